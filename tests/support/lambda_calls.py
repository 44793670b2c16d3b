"""Small helpers for integration tests that drive the Lambda API with boto3."""

from __future__ import annotations

import base64
import json
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


# boto3's own waiters, as AWS's documentation has callers use them, polled often so tests stay quick.
QUICK_WAIT = {"Delay": 0.02, "MaxAttempts": 3000}


def wait_active(client: Any, name: str) -> None:
    """Until CreateFunction's background work is done (State Pending -> Active)."""
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=QUICK_WAIT)


def wait_updated(client: Any, name: str) -> None:
    """Until an update's background work is done (LastUpdateStatus InProgress -> Successful)."""
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=QUICK_WAIT)


def create_function(client: Any, name: str, files: dict[str, str | bytes], **options: Any) -> dict[str, Any]:
    """CreateFunction of a python3.11 function from {path: source}, handler `app.handler`; returns
    CreateFunction's answer once the function is Active."""
    created: dict[str, Any] = client.create_function(
        FunctionName=name,
        Runtime=options.pop("Runtime", "python3.11"),
        Role=options.pop("Role", EXECUTION_ROLE),
        Handler=options.pop("Handler", "app.handler"),
        Code={"ZipFile": make_zip(files)},
        **options,
    )
    wait_active(client, name)
    return created


def refused_create(
    client: Any, name: str, files: dict[str, str | bytes], **options: Any
) -> tuple[str, str, int]:
    """(code, message, status) of a CreateFunction of a python3.11 function that must be refused."""
    with pytest.raises(ClientError) as failure:
        client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=EXECUTION_ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip(files)},
            **options,
        )
    return error_of(failure)


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


def printed_events(logs: Any, function: str, marker: str, count: int, timeout: float = 30) -> list[Any]:
    """The JSON documents a function printed after `marker` (`print(marker + " " + json)`), once
    `count` are in its log group or `timeout` seconds passed."""

    def found() -> list[Any]:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern=marker)[
                "events"
            ]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [json.loads(event["message"].split(marker + " ", 1)[1]) for event in events]

    deadline = time.monotonic() + timeout
    while len(found()) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return found()


def execution_role(server: Any, prefix: str, *policy_arns: str) -> str:
    """A new role Lambda may assume (named PREFIX-xxxxxx) with these managed policies; its ARN."""
    import uuid

    from tests.support.server import LAMBDA_TRUST_POLICY

    iam = server.client("iam")
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)["Role"]["Arn"]
    for policy in policy_arns:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy)
    return str(arn)
