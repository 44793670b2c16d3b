"""Asynchronous invocation through boto3 against a real server: durable acceptance across a
SIGKILL, retries and destinations, event invoke configs, and recursive loop detection.

Functions report what they ran by appending to a file on the host, which the `process` sandbox
lets them reach.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lambda_calls import create_function, error_of, wait_updated
from tests.support.server import ACCESS_KEY, LAMBDA_TRUST_POLICY, SECRET_KEY, RunningServer, running_server

ARN = "arn:aws:lambda:us-east-1:000000000000:function"
# Retries after 0.2 s instead of AWS's one and two minutes; the `process` sandbox, whatever the
# run's default, because the functions write to the host's file system.
FAST_RETRIES = ("--async-retry-delays", "0.2,0.2", "--sandbox", "process")

RECORDER = """\
import json, os, time

def handler(event, context):
    time.sleep(float(os.environ.get("SLEEP", "0")))
    with open(os.environ["OUT"], "a") as out:
        out.write(json.dumps({"event": event, "requestId": context.aws_request_id}) + "\\n")
    if os.environ.get("FAIL"):
        raise RuntimeError("failing on purpose")
    return {"seen": event}
"""


def recorded(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.fixture
def fast_server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path / "data", *FAST_RETRIES) as server:
        yield server


def recorder(
    client: Any, tmp_path: Path, *, fail: bool = False, sleep: float = 0.0, role: str | None = None
) -> tuple[str, Path]:
    name = f"rec-{uuid.uuid4().hex[:8]}"
    out = tmp_path / f"{name}.jsonl"
    variables = {"OUT": str(out), "SLEEP": str(sleep)}
    if fail:
        variables["FAIL"] = "1"
    options = {"Role": role} if role else {}
    create_function(
        client, name, {"app.py": RECORDER}, Environment={"Variables": variables}, Timeout=30, **options
    )
    return name, out


def sender_role(server: RunningServer) -> str:
    """An execution role that may invoke other functions: what Lambda destinations require."""
    iam = server.client("iam")
    name = f"sender-{uuid.uuid4().hex[:8]}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="destinations", PolicyDocument=json.dumps(document))
    return f"arn:aws:iam::000000000000:role/{name}"


def test_every_accepted_event_is_delivered_after_a_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir, *FAST_RETRIES) as first:
        client = first.client("lambda")
        name, out = recorder(client, tmp_path, sleep=0.5)
        accepted = []
        for n in range(12):
            response = client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": n}))
            assert response["StatusCode"] == 202
            accepted.append(response["ResponseMetadata"]["RequestId"])
        first.stop(signal.SIGKILL)  # most events have not run yet
    ran_before = {entry["event"]["n"] for entry in recorded(out)}
    assert len(ran_before) < 12, "every event ran before the kill: the test proves nothing"

    with running_server(data_dir, *FAST_RETRIES):
        wait_for(lambda: {entry["event"]["n"] for entry in recorded(out)} == set(range(12)))
    # The request id the caller got is the one the function saw.
    assert {entry["requestId"] for entry in recorded(out)} == set(accepted)


def test_failures_are_retried_then_sent_to_the_failure_destination(
    fast_server: RunningServer, tmp_path: Path
) -> None:
    client = fast_server.client("lambda")
    failing, failing_out = recorder(client, tmp_path, fail=True, role=sender_role(fast_server))
    collector, collected = recorder(client, tmp_path)
    put = client.put_function_event_invoke_config(
        FunctionName=failing,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": f"{ARN}:{collector}"}},
    )
    assert put["DestinationConfig"] == {"OnFailure": {"Destination": f"{ARN}:{collector}"}, "OnSuccess": {}}
    response = client.invoke(FunctionName=failing, InvocationType="Event", Payload=b'{"order": 1}')
    wait_for(lambda: len(recorded(collected)) == 1)
    assert [entry["event"] for entry in recorded(failing_out)] == [{"order": 1}, {"order": 1}]
    record = recorded(collected)[0]["event"]
    assert record["requestContext"] == {
        "requestId": response["ResponseMetadata"]["RequestId"],
        "functionArn": f"{ARN}:{failing}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 2,
    }
    assert record["requestPayload"] == {"order": 1}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "failing on purpose"


def test_successes_go_to_the_success_destination(fast_server: RunningServer, tmp_path: Path) -> None:
    client = fast_server.client("lambda")
    name, _ = recorder(client, tmp_path, role=sender_role(fast_server))
    collector, collected = recorder(client, tmp_path)
    client.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": f"{ARN}:{collector}"}}
    )
    client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"hello": "async"}')
    wait_for(lambda: len(recorded(collected)) == 1)
    record = recorded(collected)[0]["event"]
    assert record["requestContext"]["condition"] == "Success"
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"seen": {"hello": "async"}}


def test_invoke_async_the_deprecated_api_runs_the_function_as_an_event(
    fast_server: RunningServer, tmp_path: Path
) -> None:
    """InvokeAsync is deprecated but still in the API and in old code: 202 {"Status": 202}, then the
    function runs with the event, as an Event invocation would."""
    client = fast_server.client("lambda")
    name, out = recorder(client, tmp_path)
    response = client.invoke_async(FunctionName=name, InvokeArgs=b'{"old": "api"}')
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Status"]) == (202, 202)
    wait_for(lambda: len(recorded(out)) == 1)
    assert recorded(out)[0]["event"] == {"old": "api"}
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke_async(FunctionName=f"{name}-missing", InvokeArgs=b"{}")


def test_a_destination_needs_the_source_roles_permission(fast_server: RunningServer, tmp_path: Path) -> None:
    client = fast_server.client("lambda")
    name, out = recorder(client, tmp_path)  # the default role may not invoke anything
    collector, collected = recorder(client, tmp_path)
    client.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": f"{ARN}:{collector}"}}
    )
    client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"dropped": true}')
    wait_for(lambda: len(recorded(out)) == 1)
    time.sleep(1.0)  # time enough for a destination record, if one were sent
    assert recorded(collected) == []
    assert "may not invoke destination" in fast_server.output()


def test_event_invoke_config_api(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": "def handler(event, context):\n    return 1\n"}, Publish=True)
    target = deploy({"app.py": "def handler(event, context):\n    return 2\n"})
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as none:
        lambda_client.get_function_event_invoke_config(FunctionName=name)
    assert error_of(none)[1] == f"The function {ARN}:{name}:$LATEST doesn't have an EventInvokeConfig"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)

    put = lambda_client.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=3600)
    # As AWS: only the fields that were set, and both destinations, empty when not set.
    assert (put["FunctionArn"], put["MaximumEventAgeInSeconds"]) == (f"{ARN}:{name}:$LATEST", 3600)
    assert "MaximumRetryAttempts" not in put
    assert put["DestinationConfig"] == {"OnFailure": {}, "OnSuccess": {}}
    got = lambda_client.get_function_event_invoke_config(FunctionName=name)
    assert "MaximumRetryAttempts" not in got and got["DestinationConfig"] == {
        "OnFailure": {},
        "OnSuccess": {},
    }
    updated = lambda_client.update_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": f"{ARN}:{target}"}},
    )
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (0, 3600)
    # Put replaces: what it does not name returns to the default.
    replaced = lambda_client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    assert "MaximumEventAgeInSeconds" not in replaced  # back to the default: not set
    assert (replaced["MaximumRetryAttempts"], replaced["DestinationConfig"]) == (
        1,
        {"OnFailure": {}, "OnSuccess": {}},
    )
    lambda_client.put_function_event_invoke_config(FunctionName=name, Qualifier="1", MaximumRetryAttempts=0)
    listed = lambda_client.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [item["FunctionArn"] for item in listed] == [f"{ARN}:{name}:$LATEST", f"{ARN}:{name}:1"]

    topic = "arn:aws:sns:us-east-1:000000000000:topic"
    with_topic = lambda_client.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": topic}}
    )
    assert with_topic["DestinationConfig"]["OnFailure"] == {"Destination": topic}
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.put_function_event_invoke_config(
            FunctionName=name,
            DestinationConfig={"OnFailure": {"Destination": "arn:aws:sns:us-east-1:000000000000:bad topic"}},
        )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.put_function_event_invoke_config(
            FunctionName=name, Qualifier="9", MaximumRetryAttempts=0
        )
    deleted = lambda_client.delete_function_event_invoke_config(FunctionName=name, Qualifier="1")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    listed = lambda_client.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [item["FunctionArn"] for item in listed] == [f"{ARN}:{name}:$LATEST"]


SELF_INVOKER = """\
import json, os
import boto3

def handler(event, context):
    n = event["n"]
    with open(os.environ["OUT"], "a") as out:
        out.write(json.dumps({"event": event, "trace": os.environ.get("_X_AMZN_TRACE_ID")}) + "\\n")
    if n >= int(os.environ["STOP_AT"]):
        return "done"
    client = boto3.client(
        "lambda",
        endpoint_url=os.environ["ENDPOINT"],
        region_name="us-east-1",
        aws_access_key_id=os.environ["KEY"],
        aws_secret_access_key=os.environ["SECRET"],
    )
    client.invoke(FunctionName=context.function_name, InvocationType="Event", Payload=json.dumps({"n": n + 1}))
    return "next"
"""


def self_invoker(server: RunningServer, tmp_path: Path, stop_at: int) -> tuple[str, Path]:
    name = f"loop-{uuid.uuid4().hex[:8]}"
    out = tmp_path / f"{name}.jsonl"
    variables = {
        "OUT": str(out),
        "STOP_AT": str(stop_at),
        "ENDPOINT": server.endpoint,
        "KEY": ACCESS_KEY,
        "SECRET": SECRET_KEY,
    }
    create_function(
        server.client("lambda"), name, {"app.py": SELF_INVOKER}, Environment={"Variables": variables}
    )
    return name, out


def test_a_recursive_loop_is_stopped_after_16_invocations(fast_server: RunningServer, tmp_path: Path) -> None:
    client = fast_server.client("lambda")
    name, out = self_invoker(fast_server, tmp_path, stop_at=40)
    assert client.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
    client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 1}')
    wait_for(lambda: len(recorded(out)) >= 16)
    time.sleep(1.5)  # time enough for a 17th invocation, if there were one
    entries = recorded(out)
    assert [entry["event"]["n"] for entry in entries] == list(range(1, 17))
    assert entries[-1]["trace"].endswith(":16")  # Lineage=<chain>:<depth>


def test_allow_lets_a_recursive_loop_run_on(fast_server: RunningServer, tmp_path: Path) -> None:
    client = fast_server.client("lambda")
    name, out = self_invoker(fast_server, tmp_path, stop_at=20)
    assert (
        client.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")["RecursiveLoop"]
        == "Allow"
    )
    assert client.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Allow"
    client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 1}')
    wait_for(lambda: len(recorded(out)) >= 20)
    assert [entry["event"]["n"] for entry in recorded(out)] == list(range(1, 21))


def test_a_synchronous_call_deep_in_a_loop_is_refused(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": "def handler(event, context):\n    return 1\n"})
    lambda_client.meta.events.register(
        "before-sign.lambda.Invoke",
        lambda request, **kwargs: request.headers.__setitem__(
            "X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=0a1b2c3d:16"
        ),
        unique_id="deep-trace",
    )
    try:
        with pytest.raises(lambda_client.exceptions.RecursiveInvocationException) as stopped:
            lambda_client.invoke(FunctionName=name)
        assert error_of(stopped)[2] == 400
    finally:
        lambda_client.meta.events.unregister("before-sign.lambda.Invoke", unique_id="deep-trace")
    assert lambda_client.invoke(FunctionName=name)["StatusCode"] == 200


def test_dead_letter_config_is_stored_and_returned(lambda_client: Any, deploy: Callable[..., str]) -> None:
    queue = "arn:aws:sqs:us-east-1:000000000000:failed-events"
    name = deploy(
        {"app.py": "def handler(event, context):\n    return 1\n"}, DeadLetterConfig={"TargetArn": queue}
    )
    assert lambda_client.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {
        "TargetArn": queue
    }
    topic = "arn:aws:sns:us-east-1:000000000000:failed"
    updated = lambda_client.update_function_configuration(
        FunctionName=name, DeadLetterConfig={"TargetArn": topic}
    )
    wait_updated(lambda_client, name)
    assert updated["DeadLetterConfig"] == {"TargetArn": topic}
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as invalid:
        lambda_client.update_function_configuration(
            FunctionName=name, DeadLetterConfig={"TargetArn": "arn:aws:s3:::bucket"}
        )
    assert "The provided target arn is invalid" in error_of(invalid)[1]
    cleared = lambda_client.update_function_configuration(
        FunctionName=name, DeadLetterConfig={"TargetArn": ""}
    )
    wait_updated(lambda_client, name)
    assert "DeadLetterConfig" not in cleared
