"""Small helpers for integration tests that drive the Lambda API with boto3."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.packaging import make_zip
from tests.support.server import EXECUTION_ROLE


def error_of(failure: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    """(code, message, HTTP status) of a boto3 ClientError."""
    response = failure.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def wait_provisioned(client: Any, name: str, qualifier: str, timeout: float = 20) -> dict[str, Any]:
    """The provisioned concurrency config once its Status left IN_PROGRESS (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        config: dict[str, Any] = client.get_provisioned_concurrency_config(
            FunctionName=name, Qualifier=qualifier
        )
        if config["Status"] != "IN_PROGRESS" or time.monotonic() > deadline:
            return config
        time.sleep(0.1)


def log_lines(response: dict[str, Any]) -> list[str]:
    """The log tail of an Invoke made with LogType=Tail."""
    return base64.b64decode(response["LogResult"]).decode().splitlines()


def report_line(response: dict[str, Any]) -> str:
    return next(line for line in log_lines(response) if line.startswith("REPORT"))


def create_function(client: Any, name: str, files: dict[str, str | bytes], **options: Any) -> dict[str, Any]:
    """CreateFunction of a python3.11 function from {path: source}, handler `app.handler`."""
    return client.create_function(  # type: ignore[no-any-return]
        FunctionName=name,
        Runtime=options.pop("Runtime", "python3.11"),
        Role=options.pop("Role", EXECUTION_ROLE),
        Handler=options.pop("Handler", "app.handler"),
        Code={"ZipFile": make_zip(files)},
        **options,
    )


def allow_everyone(client: Any, name: str, qualifier: str | None = None) -> None:
    """The statement AWS requires before anyone may call a NONE URL."""
    extra = {"Qualifier": qualifier} if qualifier else {}
    client.add_permission(
        FunctionName=name,
        StatementId="public-url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
        **extra,
    )
