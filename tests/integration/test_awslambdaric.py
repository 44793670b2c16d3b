"""AWS's own runtime client (awslambdaric) as a custom runtime: the Runtime API must satisfy it.

Deployed the way a user would: awslambdaric and its dependencies inside the ZIP, and a `bootstrap`
that starts it with an interpreter by absolute path (the function's environment is clean).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.conftest import ROLE
from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip

APP = """\
import os

CALLS = {"count": 0}
COLD_START_TOKEN = os.urandom(8).hex()


def handler(event, context):
    CALLS["count"] += 1
    print("handled", context.aws_request_id)
    return {
        "event": event,
        "calls": CALLS["count"],
        "token": COLD_START_TOKEN,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def fail(event, context):
    raise ValueError("bad value: " + str(event.get("value")))
"""

# As a user deploys it: awslambdaric and its dependencies inside the ZIP, started by `bootstrap` with
# an interpreter every sandbox tier shows (a discovered runtime's real path, not a venv's link).
BOOTSTRAP = (
    "#!/bin/sh\n"
    'export PYTHONPATH="$LAMBDA_TASK_ROOT"\n'
    f'exec {os.path.realpath(sys.executable)} -m awslambdaric "$_HANDLER"\n'
)
_CLIENT_DISTRIBUTIONS = ("awslambdaric", "simplejson", "snapshot-restore-py")


@functools.cache
def _runtime_client_files() -> dict[str, bytes]:
    """The installed runtime interface client and what it imports, as ZIP entries."""
    files: dict[str, bytes] = {}
    for distribution in _CLIENT_DISTRIBUTIONS:
        for entry in importlib.metadata.files(distribution) or []:
            name = str(entry)
            if ".dist-info/" in name or "__pycache__" in name or name.startswith(".."):
                continue
            files[name] = entry.locate().read_bytes()
    return files


ARN_PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

CreateFunction = Callable[..., str]


@pytest.fixture
def create_function(lambda_client: Any) -> Iterator[CreateFunction]:
    """Create a function from {path: content} with an executable `bootstrap`; deleted afterwards."""
    created: list[str] = []

    def create(
        files: dict[str, str | bytes],
        *,
        runtime: str = "provided.al2023",
        handler: str = "app.handler",
        **options: Any,
    ) -> str:
        name = f"ric-{uuid.uuid4().hex[:12]}"
        modes = {"bootstrap": 0o755} if "bootstrap" in files else {}
        if "bootstrap" in files:
            files = {**_runtime_client_files(), **files}
        lambda_client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=ROLE,
            Handler=handler,
            Code={"ZipFile": make_zip(files, modes=modes)},
            **options,
        )
        created.append(name)
        wait_active(lambda_client, name)
        return name

    yield create
    for name in created:
        with contextlib.suppress(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.delete_function(FunctionName=name)


def invoke(lambda_client: Any, name: str, event: Any) -> tuple[dict[str, Any], Any]:
    response = lambda_client.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return response, json.loads(response["Payload"].read())


def test_handler_result_and_context(lambda_client: Any, create_function: CreateFunction) -> None:
    name = create_function({"bootstrap": BOOTSTRAP, "app.py": APP}, MemorySize=256, Timeout=30)
    response, result = invoke(lambda_client, name, {"hello": "world", "n": [1, 2]})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert result["event"] == {"hello": "world", "n": [1, 2]}
    assert result["function_name"] == name
    assert result["function_version"] == "$LATEST"
    # awslambdaric reads AWS_LAMBDA_FUNCTION_MEMORY_SIZE as is: a string, as on AWS.
    assert result["memory_limit_in_mb"] == "256"
    assert result["invoked_function_arn"] == ARN_PREFIX + name
    assert result["log_group_name"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", result["log_stream_name"])
    assert UUID.fullmatch(result["aws_request_id"])
    assert result["aws_request_id"] == response["ResponseMetadata"]["RequestId"]
    assert 0 < result["remaining_ms"] <= 30_000


def test_globals_persist_across_warm_invocations(lambda_client: Any, create_function: CreateFunction) -> None:
    name = create_function({"bootstrap": BOOTSTRAP, "app.py": APP})
    _, first = invoke(lambda_client, name, {})
    _, second = invoke(lambda_client, name, {})
    assert (first["calls"], second["calls"]) == (1, 2)
    assert first["token"] == second["token"]
    assert first["aws_request_id"] != second["aws_request_id"]


def test_handler_exception_is_an_unhandled_function_error(
    lambda_client: Any, create_function: CreateFunction
) -> None:
    name = create_function({"bootstrap": BOOTSTRAP, "app.py": APP}, handler="app.fail")
    response, error = invoke(lambda_client, name, {"value": 42})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad value: 42"
    assert error["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert any("raise ValueError" in frame for frame in error["stackTrace"])

    # The runtime survives a handler error: the same environment serves the next invocation.
    response, error = invoke(lambda_client, name, {"value": "again"})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorMessage"] == "bad value: again"


def test_missing_handler_is_an_init_error(lambda_client: Any, create_function: CreateFunction) -> None:
    # awslambdaric posts {"errorType": "Runtime.HandlerNotFound", ...} to /runtime/init/error
    # (with the Lambda-Runtime-Function-Error-Type header) and exits 1.
    name = create_function({"bootstrap": BOOTSTRAP, "app.py": APP}, handler="app.does_not_exist")
    response = lambda_client.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    error = json.loads(response["Payload"].read())
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.HandlerNotFound"
    assert error["errorMessage"] == "Handler 'does_not_exist' missing on module 'app'"

    # Init is retried on the next invocation, and fails the same way.
    response, error = invoke(lambda_client, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.HandlerNotFound"


def test_missing_module_is_an_init_error(lambda_client: Any, create_function: CreateFunction) -> None:
    name = create_function({"bootstrap": BOOTSTRAP, "app.py": APP}, handler="nowhere.handler")
    response, error = invoke(lambda_client, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'nowhere'" in error["errorMessage"]


def test_missing_bootstrap_is_an_invalid_entrypoint(
    lambda_client: Any, create_function: CreateFunction
) -> None:
    name = create_function({"app.py": APP})
    response, error = invoke(lambda_client, name, {})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.InvalidEntrypoint"
    assert response["ResponseMetadata"]["RequestId"] in error["errorMessage"]


def _shape(result: dict[str, Any]) -> dict[str, str]:
    return {key: type(value).__name__ for key, value in result.items()}


def test_lamina_python_runtime_returns_the_same_result(
    lambda_client: Any, create_function: CreateFunction
) -> None:
    ric = create_function({"bootstrap": BOOTSTRAP, "app.py": APP}, MemorySize=256)
    native = create_function({"app.py": APP}, runtime="python3.11", MemorySize=256)
    event = {"same": True, "values": [1, "two", None]}
    _, from_ric = invoke(lambda_client, ric, event)
    _, from_native = invoke(lambda_client, native, event)

    assert from_native.keys() == from_ric.keys()
    assert from_native["event"] == from_ric["event"] == event
    assert from_native["function_name"] == native
    assert from_native["invoked_function_arn"] == ARN_PREFIX + native
    assert str(from_native["memory_limit_in_mb"]) == str(from_ric["memory_limit_in_mb"]) == "256"
    assert from_native["calls"] == from_ric["calls"] == 1
    for key in ("remaining_ms", "calls"):
        assert isinstance(from_native[key], int)


def test_lamina_python_runtime_context_types_match_awslambdaric(
    lambda_client: Any, create_function: CreateFunction
) -> None:
    ric = create_function({"bootstrap": BOOTSTRAP, "app.py": APP})
    native = create_function({"app.py": APP}, runtime="python3.11")
    _, from_ric = invoke(lambda_client, ric, {})
    _, from_native = invoke(lambda_client, native, {})
    assert _shape(from_native) == _shape(from_ric)
