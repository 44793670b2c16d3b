"""Inside the execution environment, as code that inspects it on AWS sees it: resource limits,
AWS_LAMBDA_INITIALIZATION_TYPE, temporary credentials of its own per environment under a session
named after the function, and stack traces that name AWS's paths, not the host's."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.lambda_calls import error_of, wait_provisioned
from tests.support.server import EXECUTION_ROLE_NAME as ROLE

INSPECTOR = """\
import os, json, time, resource

def limits(event, context):
    names = {"NOFILE": resource.RLIMIT_NOFILE, "NPROC": resource.RLIMIT_NPROC, "CORE": resource.RLIMIT_CORE}
    return {name: list(resource.getrlimit(limit)) for name, limit in names.items()}

def kind(event, context):
    return os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]

def credentials(event, context):
    time.sleep(event.get("hold", 0))  # keeps this environment busy: a concurrent call gets another
    import boto3
    return {
        "key": os.environ["AWS_ACCESS_KEY_ID"],
        "arn": boto3.client("sts").get_caller_identity()["Arn"],
    }

def fails(event, context):
    json.loads("{not json")
"""


def invoke(client: Any, name: str, event: dict[str, Any] | None = None, **options: Any) -> Any:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **options)
    return response, json.loads(response["Payload"].read())


def test_resource_limits_are_awss(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": INSPECTOR}, handler="app.limits")
    _, limits = invoke(lambda_client, name)
    assert limits["NOFILE"] == [1024, 1024]
    assert limits["NPROC"] == [1024, 1024]
    assert limits["CORE"][0] == 0


def test_initialization_type_says_provisioned_in_provisioned_environments(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy({"app.py": INSPECTOR}, handler="app.kind", Publish=True)
    assert invoke(lambda_client, name)[1] == "on-demand"
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    assert wait_provisioned(lambda_client, name, "1")["Status"] == "READY"
    _, kind = invoke(lambda_client, name, Qualifier="1")
    assert kind == "provisioned-concurrency"
    lambda_client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")


def test_each_environment_has_credentials_of_its_own(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": INSPECTOR}, handler="app.credentials", Timeout=30)
    results: list[Any] = []

    def call() -> None:
        results.append(invoke(lambda_client, name, {"hold": 1.5})[1])

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = {result["key"] for result in results}
    assert len(keys) == 2, results  # two environments, two access keys
    for result in results:
        # AWS names the session after the function.
        assert result["arn"] == f"arn:aws:sts::000000000000:assumed-role/{ROLE}/{name}"


def test_stack_traces_name_awss_paths(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": INSPECTOR}, handler="app.fails")
    response, error = invoke(lambda_client, name)
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "JSONDecodeError"
    trace = "".join(error["stackTrace"])
    assert 'File "/var/task/app.py", line 19, in fails' in trace
    assert 'File "/var/lang/lib/python3.11/json/__init__.py"' in trace
    for line in error["stackTrace"]:
        path = line.split('"')[1]
        assert path.startswith(("/var/task/", "/var/lang/", "/var/runtime/", "/opt/")), line


def test_provisioned_concurrency_counts_against_the_reservation(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy({"app.py": INSPECTOR}, handler="app.kind", Publish=True)
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    assert wait_provisioned(lambda_client, name, "1")["Status"] == "READY"
    try:
        # The provisioned environment takes the whole reservation: $LATEST is throttled, as on AWS.
        with pytest.raises(ClientError) as throttled:
            lambda_client.invoke(FunctionName=name, Payload=b"{}")
        assert error_of(throttled)[0::2] == ("TooManyRequestsException", 429)
        assert throttled.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert invoke(lambda_client, name, Qualifier="1")[1] == "provisioned-concurrency"
    finally:
        lambda_client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert invoke(lambda_client, name)[1] == "on-demand"
