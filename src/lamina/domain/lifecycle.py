"""A function's lifecycle as AWS reports it: `State` (Pending while it is being created, then
Active, or Failed) and `LastUpdateStatus` (InProgress while an update is applied, then Successful
or Failed), each with a reason and reason code while it is not settled.

A transition is a new configuration revision for the API (RevisionId changes, as on AWS) but not
for execution: environments started before it keep running the same code and settings.
"""

from __future__ import annotations

from dataclasses import replace

from lamina.domain.functions import FunctionConfig, new_revision_id
from lamina.errors import conflict

PENDING = "Pending"
ACTIVE = "Active"
FAILED = "Failed"
IN_PROGRESS = "InProgress"
SUCCESSFUL = "Successful"

# AWS gives the same reason for a function being created and for an update being applied.
BEING_CREATED = "The function is being created."
CREATING = "Creating"

_CANNOT_NOW = "The operation cannot be performed at this time."


def _status(
    config: FunctionConfig,
    state: str,
    update: str | None,
    state_reason: tuple[str, str] | None = None,
    update_reason: tuple[str, str] | None = None,
    *,
    transition: bool,
) -> FunctionConfig:
    """`config` with these lifecycle members ((reason, reason code) pairs); a `transition` is a
    new RevisionId over the same environment revision."""
    changes: dict[str, object] = {
        "state": state,
        "state_reason": state_reason[0] if state_reason else None,
        "state_reason_code": state_reason[1] if state_reason else None,
        "last_update_status": update,
        "last_update_status_reason": update_reason[0] if update_reason else None,
        "last_update_status_reason_code": update_reason[1] if update_reason else None,
    }
    if transition:
        changes.update(revision_id=new_revision_id(), environment_revision=config.runs_revision)
    return replace(config, **changes)  # type: ignore[arg-type]


def pending(config: FunctionConfig) -> FunctionConfig:
    """A configuration being created (CreateFunction, PublishVersion): no LastUpdateStatus yet."""
    return _status(config, PENDING, None, (BEING_CREATED, CREATING), transition=False)


def updating(config: FunctionConfig) -> FunctionConfig:
    """A changed configuration being applied (UpdateFunctionCode / UpdateFunctionConfiguration)."""
    return _status(config, config.state, IN_PROGRESS, None, (BEING_CREATED, CREATING), transition=False)


def settled(config: FunctionConfig) -> FunctionConfig:
    """The background work succeeded: Active, the update Successful, no reasons."""
    return _status(config, ACTIVE, SUCCESSFUL, transition=True)


def failed(config: FunctionConfig, reason_code: str, reason: str) -> FunctionConfig:
    """The background work failed: a creation leaves the function Failed, an update leaves it
    Active with the update Failed (it keeps running what it ran before, as on AWS)."""
    why = (reason, reason_code)
    if config.state == PENDING:
        return _status(config, FAILED, FAILED, why, why, transition=True)
    return _status(config, config.state, FAILED, None, why, transition=True)


def is_settling(config: FunctionConfig) -> bool:
    """Background work is still to be done for this configuration."""
    return config.state == PENDING or config.last_update_status == IN_PROGRESS


def check_changeable(config: FunctionConfig, arn: str) -> None:
    """An update or a publication waits for the previous one, as AWS's 409s make callers do."""
    if config.state == PENDING:
        raise conflict(f"{_CANNOT_NOW} The function is currently in the following state: {PENDING}")
    if config.last_update_status == IN_PROGRESS:
        raise conflict(f"{_CANNOT_NOW} An update is in progress for resource: {arn}")


def check_invocable(config: FunctionConfig) -> None:
    """A function not yet created, or whose creation failed, cannot run."""
    if config.state != ACTIVE:
        raise conflict(f"{_CANNOT_NOW} The function is currently in the following state: {config.state}")
