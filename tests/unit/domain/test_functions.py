"""Function configuration records and CreateFunction's rules (Lambda API reference, CreateFunction)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from lamina.domain.code import CodeDigest
from lamina.domain.function_limits import FunctionLimits
from lamina.domain.functions import (
    LATEST,
    RESERVED_ENVIRONMENT_KEYS,
    FunctionConfig,
    format_last_modified,
    validate_environment,
)
from lamina.errors import AwsError

CODE = CodeDigest("ab" * 32, "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", 1234)
ENV_PREFIX = (
    "Lambda was unable to configure your environment variables because the environment variables "
    "you have provided "
)
AWS = FunctionLimits()
validate_memory, validate_timeout = AWS.check_memory, AWS.check_timeout
validate_ephemeral_storage = AWS.check_ephemeral_storage
LAST_MODIFIED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def make_config(**overrides: object) -> FunctionConfig:
    values: dict[str, object] = {
        "name": "my-function",
        "runtime": "python3.12",
        "handler": "app.handler",
        "role": "arn:aws:iam::123456789012:role/lambda-role",
        "code": CODE,
        "revision_id": "rev-1",
        "last_modified": "2024-01-02T03:04:05.678+0000",
    }
    values.update(overrides)
    return FunctionConfig(**values)  # type: ignore[arg-type]


def invalid(call: Callable[..., object], *args: object) -> str:
    with pytest.raises(AwsError) as caught:
        call(*args)
    assert (caught.value.code, caught.value.status) == ("InvalidParameterValueException", 400)
    return caught.value.message


# LastModified ---------------------------------------------------------------------------------


def test_format_last_modified_is_aws_format_with_milliseconds() -> None:
    moment = datetime(2019, 8, 14, 22, 26, 11, 234567, tzinfo=UTC)
    assert format_last_modified(moment) == "2019-08-14T22:26:11.234+0000"


def test_format_last_modified_converts_to_utc_and_truncates_milliseconds() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert format_last_modified(datetime(2019, 8, 15, 0, 26, 11, 999999, tzinfo=plus_two)) == (
        "2019-08-14T22:26:11.999+0000"
    )
    assert (
        format_last_modified(datetime(2020, 1, 1, 0, 0, 0, 0, tzinfo=UTC)) == "2020-01-01T00:00:00.000+0000"
    )


def test_default_last_modified_is_now_in_aws_format() -> None:
    config = FunctionConfig("f", "python3.12", "app.handler", "role", CODE)
    assert LAST_MODIFIED.match(config.last_modified)
    assert config.last_modified[:10] == datetime.now(UTC).strftime("%Y-%m-%d")


# numeric bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [128, 129, 1024, 10240])
def test_memory_in_bounds_is_accepted(value: int) -> None:
    assert validate_memory(value) == value


@pytest.mark.parametrize("value", [0, 127, 10241, -1])
def test_memory_out_of_bounds_is_rejected(value: int) -> None:
    assert invalid(validate_memory, value) == (
        f"'{value}' at 'memorySize' failed to satisfy constraint: Member must have value between 128 and 10240"
    )


@pytest.mark.parametrize("value", [1, 3, 900])
def test_timeout_in_bounds_is_accepted(value: int) -> None:
    assert validate_timeout(value) == value


@pytest.mark.parametrize("value", [0, 901, -5])
def test_timeout_out_of_bounds_is_rejected(value: int) -> None:
    assert invalid(validate_timeout, value) == (
        f"'{value}' at 'timeout' failed to satisfy constraint: Member must have value between 1 and 900"
    )


@pytest.mark.parametrize("value", [512, 513, 10240])
def test_ephemeral_storage_in_bounds_is_accepted(value: int) -> None:
    assert validate_ephemeral_storage(value) == value


@pytest.mark.parametrize("value", [511, 10241, 0])
def test_ephemeral_storage_out_of_bounds_is_rejected(value: int) -> None:
    assert invalid(validate_ephemeral_storage, value) == (
        f"'{value}' at 'ephemeralStorage.size' failed to satisfy constraint: "
        "Member must have value between 512 and 10240"
    )


# environment variables ----------------------------------------------------------------------


def test_valid_environment_is_returned_as_a_copy() -> None:
    variables = {"AB": "1", "my_Key_2": "", "Z9": "x" * 100}
    result = validate_environment(variables)
    assert result == variables
    assert result is not variables
    assert validate_environment({}) == {}


@pytest.mark.parametrize("key", ["A", "1ABC", "_X", "A-B", "A B", "", "ÄB", "AB.C"])
def test_invalid_keys_are_rejected(key: str) -> None:
    assert invalid(validate_environment, {"GOOD": "1", key: "v"}) == (
        f"{ENV_PREFIX}contains invalid keys: [{key}]"
    )


def test_key_with_trailing_newline_is_rejected() -> None:
    assert invalid(validate_environment, {"AB\n": "v"}) == f"{ENV_PREFIX}contains invalid keys: [AB\n]"


def test_reserved_keys_are_rejected_and_listed_sorted() -> None:
    variables = {"MY_VAR": "1", "AWS_REGION": "x", "AWS_ACCESS_KEY_ID": "y", "LAMBDA_TASK_ROOT": "z"}
    assert invalid(validate_environment, variables) == (
        f"{ENV_PREFIX}contains reserved keys that are currently not supported for modification. "
        "Reserved keys used in this request: AWS_ACCESS_KEY_ID, AWS_REGION, LAMBDA_TASK_ROOT"
    )


@pytest.mark.parametrize("key", sorted(key for key in RESERVED_ENVIRONMENT_KEYS if key[0].isalpha()))
def test_every_well_formed_reserved_key_is_rejected(key: str) -> None:
    assert invalid(validate_environment, {key: "v"}).endswith(f"Reserved keys used in this request: {key}")


def test_non_reserved_aws_prefixed_keys_are_allowed() -> None:
    assert validate_environment({"AWS_PROFILE_NAME": "x", "AWS_LAMBDA_EXEC_WRAPPER": "y"})


def test_environment_up_to_4_kb_is_accepted_and_one_byte_more_rejected() -> None:
    # Measured as compact JSON: {"AB":"..."} is 9 bytes plus the value.
    fits = {"AB": "x" * (4096 - 9)}
    assert len(json.dumps(fits, separators=(",", ":"))) == 4096
    assert validate_environment(fits) == fits
    too_big = {"AB": "x" * (4096 - 8)}
    assert invalid(validate_environment, too_big) == (
        f"{ENV_PREFIX}exceeded the 4KB limit. String measured: {json.dumps(too_big)}"
    )


def test_environment_size_counts_utf8_bytes() -> None:
    value = "é" * 2044  # 4088 bytes in UTF-8, 2044 characters
    assert invalid(validate_environment, {"AB": value}).startswith(f"{ENV_PREFIX}exceeded the 4KB limit.")


# records ---------------------------------------------------------------------------------


def test_defaults_follow_create_function() -> None:
    config = FunctionConfig("f", "python3.12", "app.handler", "role", CODE)
    assert (config.memory_size, config.timeout, config.ephemeral_storage_mb) == (128, 3, 512)
    assert (config.version, config.architectures, config.environment) == (LATEST, ("x86_64",), {})
    assert (config.log_format, config.tracing_mode, config.description) == ("Text", "PassThrough", "")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", config.revision_id)
    assert FunctionConfig("f", "python3.12", "app.handler", "role", CODE).revision_id != config.revision_id


def test_record_round_trip_keeps_every_field() -> None:
    config = make_config(
        memory_size=512,
        timeout=30,
        environment={"STAGE": "prod", "UNICODE": "ünï"},
        description="desc",
        version="4",
        architectures=("arm64",),
        ephemeral_storage_mb=1024,
        log_format="JSON",
        log_group="/custom/group",
        application_log_level="DEBUG",
        system_log_level="WARN",
        tracing_mode="Active",
    )
    record = config.to_record()
    assert record["code"] == {"sha256_hex": "ab" * 32, "sha256_base64": CODE.sha256_base64, "size": 1234}
    assert record["architectures"] == ["arm64"]
    assert FunctionConfig.from_record(record) == config
    assert FunctionConfig.from_record(json.loads(config.dumps())) == config
    assert FunctionConfig.from_record(json.loads(make_config().dumps())) == make_config()


def test_dumps_is_compact_json_of_the_record() -> None:
    config = make_config()
    assert config.dumps() == json.dumps(config.to_record(), separators=(",", ":"))
    assert " " not in config.dumps().replace("my-function", "").replace("app.handler", "")


def test_with_changes_gives_a_new_revision_and_keeps_the_rest() -> None:
    config = make_config(environment={"A1": "x"}, description="before")
    changed = config.with_changes(memory_size=256)
    assert changed.memory_size == 256
    assert changed.revision_id != config.revision_id
    assert LAST_MODIFIED.match(changed.last_modified)
    assert changed.last_modified != config.last_modified
    kept = {
        key: value
        for key, value in config.to_record().items()
        if key not in {"memory_size", "revision_id", "last_modified"}
    }
    assert {key: changed.to_record()[key] for key in kept} == kept
    assert config.memory_size == 128  # the original record is untouched
    assert config.revision_id == "rev-1"


def test_with_changes_accepts_an_explicit_revision() -> None:
    changed = make_config().with_changes(revision_id="rev-2", last_modified="2025-01-01T00:00:00.000+0000")
    assert (changed.revision_id, changed.last_modified) == ("rev-2", "2025-01-01T00:00:00.000+0000")


def test_to_api_for_latest() -> None:
    assert make_config().to_api("us-east-1", "123456789012") == {
        "FunctionName": "my-function",
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:my-function",
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::123456789012:role/lambda-role",
        "Handler": "app.handler",
        "CodeSize": 1234,
        "Description": "",
        "Timeout": 3,
        "MemorySize": 128,
        "LastModified": "2024-01-02T03:04:05.678+0000",
        "CodeSha256": CODE.sha256_base64,
        "Version": "$LATEST",
        "Environment": None,
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": "rev-1",
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "RuntimeVersionConfig": {"RuntimeVersionArn": "arn:aws:lambda:us-east-1::runtime:lamina-python3.12"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/my-function"},
    }


def test_to_api_for_a_published_version_with_environment_and_logging() -> None:
    config = make_config(
        version="7",
        environment={"STAGE": "prod"},
        log_format="JSON",
        log_group="/custom/group",
        application_log_level="INFO",
        system_log_level="WARN",
    )
    api = config.to_api("eu-west-1", "210987654321")
    assert api["FunctionArn"] == "arn:aws:lambda:eu-west-1:210987654321:function:my-function:7"
    assert api["Version"] == "7"
    assert api["Environment"] == {"Variables": {"STAGE": "prod"}}
    assert api["Environment"]["Variables"] is not config.environment
    assert api["LoggingConfig"] == {
        "LogFormat": "JSON",
        "LogGroup": "/custom/group",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "WARN",
    }
    assert config.log_group_name == "/custom/group"
    assert make_config().log_group_name == "/aws/lambda/my-function"
