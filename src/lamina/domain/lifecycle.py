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


def _transition(config: FunctionConfig, **changes: object) -> FunctionConfig:
    return replace(
        config,
        revision_id=new_revision_id(),
        environment_revision=config.runs_revision,
        **changes,  # type: ignore[arg-type]
    )


def pending(config: FunctionConfig) -> FunctionConfig:
    """A configuration being created (CreateFunction, PublishVersion): no LastUpdateStatus yet."""
    return replace(
        config,
        state=PENDING,
        state_reason=BEING_CREATED,
        state_reason_code=CREATING,
        last_update_status=None,
        last_update_status_reason=None,
        last_update_status_reason_code=None,
    )


def updating(config: FunctionConfig) -> FunctionConfig:
    """A changed configuration being applied (UpdateFunctionCode / UpdateFunctionConfiguration)."""
    return replace(
        config,
        last_update_status=IN_PROGRESS,
        last_update_status_reason=BEING_CREATED,
        last_update_status_reason_code=CREATING,
    )


def settled(config: FunctionConfig) -> FunctionConfig:
    """The background work succeeded: Active, the update Successful, no reasons."""
    return _transition(
        config,
        state=ACTIVE,
        state_reason=None,
        state_reason_code=None,
        last_update_status=SUCCESSFUL,
        last_update_status_reason=None,
        last_update_status_reason_code=None,
    )


def failed(config: FunctionConfig, reason_code: str, reason: str) -> FunctionConfig:
    """The background work failed: a creation leaves the function Failed, an update leaves it
    Active with the update Failed (it keeps running what it ran before, as on AWS)."""
    if config.state == PENDING:
        return _transition(
            config,
            state=FAILED,
            state_reason=reason,
            state_reason_code=reason_code,
            last_update_status=FAILED,
            last_update_status_reason=reason,
            last_update_status_reason_code=reason_code,
        )
    return _transition(
        config,
        last_update_status=FAILED,
        last_update_status_reason=reason,
        last_update_status_reason_code=reason_code,
    )


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
