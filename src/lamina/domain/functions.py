"""Function configuration records and the rules CreateFunction / UpdateFunctionConfiguration apply.

Defaults and limits follow the Lambda API reference (CreateFunction): MemorySize default 128,
Timeout default 3, environment variables at most 4 KB in total, EphemeralStorage default 512 MB;
the ranges, which an operator may widen, are in function_limits.py.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from lamina.domain.arns import function_arn
from lamina.domain.code import CodeDigest
from lamina.errors import invalid_parameter

LATEST = "$LATEST"
DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S = 128, 3
MAX_ENVIRONMENT_BYTES = 4096
DEFAULT_EPHEMERAL_MB = 512
_ENV_KEY = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_])+$")
# Lambda: "Lambda reserves a set of environment variable keys ... you can't set these".
RESERVED_ENVIRONMENT_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


def format_last_modified(moment: datetime) -> str:
    """AWS's LastModified format: 2019-08-14T22:26:11.234+0000."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def new_revision_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class FunctionLayer:
    """A layer version as a function configuration keeps it: enough to run it after the version
    itself is deleted."""

    arn: str
    content: CodeDigest
    unzipped_size: int

    def to_api(self) -> dict[str, Any]:
        return {"Arn": self.arn, "CodeSize": self.content.size}

    def to_record(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "content": self.content.to_record(),
            "unzipped_size": self.unzipped_size,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FunctionLayer:
        return cls(record["arn"], CodeDigest(**record["content"]), record["unzipped_size"])


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """One immutable configuration of a function version; a change produces a new record."""

    name: str
    runtime: str
    handler: str
    role: str
    code: CodeDigest
    memory_size: int = DEFAULT_MEMORY_MB
    timeout: int = DEFAULT_TIMEOUT_S
    environment: dict[str, str] = field(default_factory=dict)
    description: str = ""
    version: str = LATEST
    revision_id: str = field(default_factory=new_revision_id)
    last_modified: str = field(default_factory=lambda: format_last_modified(datetime.now(UTC)))
    architectures: tuple[str, ...] = ("x86_64",)
    ephemeral_storage_mb: int = DEFAULT_EPHEMERAL_MB
    log_format: str = "Text"
    log_group: str | None = None
    application_log_level: str | None = None
    system_log_level: str | None = None
    tracing_mode: str = "PassThrough"
    dead_letter_target: str | None = None  # DeadLetterConfig.TargetArn: an SQS queue or SNS topic
    layers: tuple[FunctionLayer, ...] = ()
    code_unzipped_size: int = 0  # the package's unzipped size: with the layers', at most 250 MB
    # $LATEST only: the highest version number ever published, so that a deleted version's number
    # is never given again.
    last_published: int = 0
    # Environment {"Variables": {}} was given: AWS echoes it although it holds nothing.
    environment_declared: bool = False
    # SnapStart.ApplyOn, echoed as AWS does; Lamina restores no snapshots (cold starts are fast).
    snap_start_apply_on: str = "None"
    # A published version: $LATEST's Description when it was published (PublishVersion's own
    # Description may replace it on the version), so that a new Description alone is a change.
    published_description: str | None = None
    # The lifecycle (domain/lifecycle.py): records stored before it was kept are Active.
    state: str = "Active"
    state_reason: str | None = None
    state_reason_code: str | None = None
    last_update_status: str | None = "Successful"
    last_update_status_reason: str | None = None
    last_update_status_reason_code: str | None = None
    # The revision whose code and settings environments run, when a lifecycle transition gave
    # RevisionId a new value without changing them; None: RevisionId's.
    environment_revision: str | None = None

    @property
    def runs_revision(self) -> str:
        """Which configuration an environment runs: equal for revisions that differ only in state."""
        return self.environment_revision or self.revision_id

    @property
    def network_enabled(self) -> bool:
        return network_enabled(self.environment)

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"

    def to_record(self) -> dict[str, Any]:
        """Storage form: plain JSON-able dict; `from_record` is its inverse."""
        return {
            "name": self.name,
            "runtime": self.runtime,
            "handler": self.handler,
            "role": self.role,
            "code": self.code.to_record(),
            "memory_size": self.memory_size,
            "timeout": self.timeout,
            "environment": self.environment,
            "description": self.description,
            "version": self.version,
            "revision_id": self.revision_id,
            "last_modified": self.last_modified,
            "architectures": list(self.architectures),
            "ephemeral_storage_mb": self.ephemeral_storage_mb,
            "log_format": self.log_format,
            "log_group": self.log_group,
            "application_log_level": self.application_log_level,
            "system_log_level": self.system_log_level,
            "tracing_mode": self.tracing_mode,
            "dead_letter_target": self.dead_letter_target,
            "layers": [layer.to_record() for layer in self.layers],
            "code_unzipped_size": self.code_unzipped_size,
            "last_published": self.last_published,
            "environment_declared": self.environment_declared,
            "snap_start_apply_on": self.snap_start_apply_on,
            "published_description": self.published_description,
            "state": self.state,
            "state_reason": self.state_reason,
            "state_reason_code": self.state_reason_code,
            "last_update_status": self.last_update_status,
            "last_update_status_reason": self.last_update_status_reason,
            "last_update_status_reason_code": self.last_update_status_reason_code,
            "environment_revision": self.environment_revision,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FunctionConfig:
        values = dict(record)
        values["code"] = CodeDigest(**values["code"])
        values["architectures"] = tuple(values["architectures"])
        values["layers"] = tuple(FunctionLayer.from_record(layer) for layer in values.get("layers", ()))
        return cls(**values)

    def dumps(self) -> str:
        return json.dumps(self.to_record(), separators=(",", ":"))

    def with_changes(self, **changes: Any) -> FunctionConfig:
        """A new configuration revision: fresh RevisionId and LastModified."""
        changes.setdefault("revision_id", new_revision_id())
        changes.setdefault("last_modified", format_last_modified(datetime.now(UTC)))
        changes.setdefault("environment_revision", None)
        return replace(self, **changes)

    def _lifecycle_members(self) -> dict[str, str]:
        members = {
            "State": self.state,
            "StateReason": self.state_reason,
            "StateReasonCode": self.state_reason_code,
            "LastUpdateStatus": self.last_update_status,
            "LastUpdateStatusReason": self.last_update_status_reason,
            "LastUpdateStatusReasonCode": self.last_update_status_reason_code,
        }
        return {key: value for key, value in members.items() if value is not None}

    def to_api(self, region: str, account_id: str) -> dict[str, Any]:
        """The FunctionConfiguration shape of botocore's Lambda model."""
        qualifier = None if self.version == LATEST else self.version
        logging_config: dict[str, Any] = {"LogFormat": self.log_format, "LogGroup": self.log_group_name}
        if self.application_log_level:
            logging_config["ApplicationLogLevel"] = self.application_log_level
        if self.system_log_level:
            logging_config["SystemLogLevel"] = self.system_log_level
        return {
            "FunctionName": self.name,
            "FunctionArn": function_arn(region, account_id, self.name, qualifier),
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "CodeSize": self.code.size,
            "Description": self.description,
            "Timeout": self.timeout,
            "MemorySize": self.memory_size,
            "LastModified": self.last_modified,
            "CodeSha256": self.code.sha256_base64,
            "Version": self.version,
            "Environment": (
                {"Variables": dict(self.environment)}
                if self.environment or self.environment_declared
                else None
            ),
            "TracingConfig": {"Mode": self.tracing_mode},
            "RevisionId": self.revision_id,
            **self._lifecycle_members(),
            "PackageType": "Zip",
            "Architectures": list(self.architectures),
            "EphemeralStorage": {"Size": self.ephemeral_storage_mb},
            "SnapStart": {
                "ApplyOn": self.snap_start_apply_on,
                # AWS: "On" for a published version of a function with SnapStart, else "Off".
                "OptimizationStatus": (
                    "On"
                    if self.snap_start_apply_on == "PublishedVersions" and self.version != LATEST
                    else "Off"
                ),
            },
            "RuntimeVersionConfig": {
                "RuntimeVersionArn": f"arn:aws:lambda:{region}::runtime:lamina-{self.runtime}"
            },
            "LoggingConfig": logging_config,
            **(
                {"DeadLetterConfig": {"TargetArn": self.dead_letter_target}}
                if self.dead_letter_target
                else {}
            ),
            **({"Layers": [layer.to_api() for layer in self.layers]} if self.layers else {}),
        }


# Lamina's per-function network switch, an environment variable so that every deployment tool
# (CLI, SAM, Terraform, boto3) can set it: "off" leaves the function loopback only (namespaces tier).
NETWORK_VARIABLE = "LAMINA_NETWORK"
NETWORK_SETTINGS = ("on", "off")


def network_enabled(variables: dict[str, str]) -> bool:
    return variables.get(NETWORK_VARIABLE, "on") != "off"


def validate_network_setting(variables: dict[str, str]) -> None:
    value = variables.get(NETWORK_VARIABLE)
    if value is not None and value not in NETWORK_SETTINGS:
        raise invalid_parameter(f"{NETWORK_VARIABLE} must be 'on' or 'off', not '{value}'.")


def validate_environment(variables: dict[str, str]) -> dict[str, str]:
    """Lambda: keys start with a letter, at least two characters, 4 KB total, none reserved."""
    for key in variables:
        if not _ENV_KEY.fullmatch(key):
            raise invalid_parameter(
                f"Lambda was unable to configure your environment variables because the environment variables "
                f"you have provided contains invalid keys: [{key}]"
            )
    reserved = sorted(key for key in variables if key in RESERVED_ENVIRONMENT_KEYS)
    if reserved:
        raise invalid_parameter(
            "Lambda was unable to configure your environment variables because the environment variables "
            f"you have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}"
        )
    size = len(json.dumps(variables, separators=(",", ":")).encode())
    if size > MAX_ENVIRONMENT_BYTES:
        raise invalid_parameter(
            "Lambda was unable to configure your environment variables because the environment variables "
            f"you have provided exceeded the 4KB limit. String measured: {json.dumps(variables)}"
        )
    return dict(variables)


_DEAD_LETTER_TARGET = re.compile(r"^arn:aws[a-zA-Z-]*:(sqs|sns):[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$")


def validate_dead_letter_target(target: str | None) -> str | None:
    """DeadLetterConfig.TargetArn: an SQS queue or SNS topic ARN (empty removes it)."""
    if not target:
        return None
    if not _DEAD_LETTER_TARGET.match(target):
        raise invalid_parameter(
            f"The provided target arn is invalid: {target}. A dead-letter queue must be an SQS queue or SNS topic."
        )
    return target
