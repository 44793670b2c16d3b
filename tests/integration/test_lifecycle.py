"""A function's lifecycle as AWS runs it, against a real server driven by boto3: CreateFunction
answers Pending and the package is unpacked in the background, updates are InProgress, a second
update or an invocation too early gets AWS's 409, boto3's waiters see each state settle, and work a
killed server left is finished at the next start.

The packages here hold thousands of files so that unpacking them takes long enough (hundreds of
milliseconds) for the calls that follow to find the function still settling."""

from __future__ import annotations

import io
import json
import signal
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.lambda_calls import error_of
from tests.support.packaging import make_zip
from tests.support.server import EXECUTION_ROLE, RunningServer, running_server

ACCOUNT = "000000000000"
HANDLER = "def handler(event, context):\n    return {'version': context.function_version, 'answer': ANSWER}\n"
FAST = {"Delay": 0.05, "MaxAttempts": 400}  # boto3's waiters, polled often: the tests stay quick


def slow_package(answer: int, files: int = 10_000) -> bytes:
    """A package with many small files: seconds' worth of unpacking on a busy machine."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", f"ANSWER = {answer}\n{HANDLER}")
        for index in range(files):
            archive.writestr(f"vendor/module_{index}.py", "VALUE = 1\n" * 4)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("lifecycle") / "data") as running:
        yield running


def create(client: Any, name: str, package: bytes, **options: Any) -> dict[str, Any]:
    return client.create_function(  # type: ignore[no-any-return]
        FunctionName=name,
        Runtime="python3.11",
        Role=EXECUTION_ROLE,
        Handler="app.handler",
        Code={"ZipFile": package},
        **options,
    )


def invoke(client: Any, name: str, qualifier: str | None = None) -> dict[str, Any]:
    extra = {"Qualifier": qualifier} if qualifier else {}
    response = client.invoke(FunctionName=name, Payload=b"{}", **extra)
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())  # type: ignore[no-any-return]


def test_create_is_pending_until_the_package_is_unpacked(server: RunningServer) -> None:
    client = server.client()
    created = create(client, "pending-fn", slow_package(1))
    assert created["State"] == "Pending"
    assert created["StateReason"] == "The function is being created."
    assert created["StateReasonCode"] == "Creating"
    assert "LastUpdateStatus" not in created

    with pytest.raises(ClientError) as early:
        client.invoke(FunctionName="pending-fn", Payload=b"{}")
    assert error_of(early) == (
        "ResourceConflictException",
        "The operation cannot be performed at this time. The function is currently in the following state: Pending",
        409,
    )
    with pytest.raises(ClientError) as too_soon:
        client.update_function_configuration(FunctionName="pending-fn", Timeout=10)
    assert error_of(too_soon)[0::2] == ("ResourceConflictException", 409)

    client.get_waiter("function_active_v2").wait(FunctionName="pending-fn", WaiterConfig=FAST)
    active = client.get_function(FunctionName="pending-fn")["Configuration"]
    assert (active["State"], active["LastUpdateStatus"]) == ("Active", "Successful")
    assert not {"StateReason", "StateReasonCode", "LastUpdateStatusReason"} & set(active)
    assert active["RevisionId"] != created["RevisionId"]  # each transition is a new revision
    assert invoke(client, "pending-fn") == {"version": "$LATEST", "answer": 1}


def test_an_update_is_in_progress_until_applied_and_a_second_one_waits(server: RunningServer) -> None:
    client = server.client()
    create(client, "updated-fn", make_zip({"app.py": f"ANSWER = 0\n{HANDLER}"}))
    client.get_waiter("function_active_v2").wait(FunctionName="updated-fn", WaiterConfig=FAST)

    updated = client.update_function_code(FunctionName="updated-fn", ZipFile=slow_package(2))
    assert (updated["State"], updated["LastUpdateStatus"]) == ("Active", "InProgress")
    assert updated["LastUpdateStatusReason"] == "The function is being created."
    assert updated["LastUpdateStatusReasonCode"] == "Creating"
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:updated-fn"
    in_progress = (
        f"The operation cannot be performed at this time. An update is in progress for resource: {arn}"
    )
    for call in (
        lambda: client.update_function_configuration(FunctionName="updated-fn", MemorySize=256),
        lambda: client.update_function_code(FunctionName="updated-fn", ZipFile=slow_package(3, 10)),
        lambda: client.publish_version(FunctionName="updated-fn"),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert error_of(refused) == ("ResourceConflictException", in_progress, 409)

    client.get_waiter("function_updated_v2").wait(FunctionName="updated-fn", WaiterConfig=FAST)
    settled = client.get_function_configuration(FunctionName="updated-fn")
    assert settled["LastUpdateStatus"] == "Successful"
    assert settled["RevisionId"] != updated["RevisionId"]
    assert invoke(client, "updated-fn")["answer"] == 2

    configured = client.update_function_configuration(FunctionName="updated-fn", Description="next")
    assert configured["LastUpdateStatus"] == "InProgress"
    client.get_waiter("function_updated_v2").wait(FunctionName="updated-fn", WaiterConfig=FAST)
    version = client.publish_version(FunctionName="updated-fn")
    # A version of a settled function is Active at once, as AWS publishes it.
    assert (version["Version"], version["State"], version["LastUpdateStatus"]) == (
        "1",
        "Active",
        "Successful",
    )


def test_publish_on_create_makes_a_pending_version_one(server: RunningServer) -> None:
    client = server.client()
    created = create(client, "published-fn", slow_package(4), Publish=True)
    assert (created["Version"], created["State"]) == ("1", "Pending")
    assert created["FunctionArn"].endswith(":published-fn:1")
    assert "LastUpdateStatus" not in created
    client.get_waiter("published_version_active").wait(
        FunctionName="published-fn", Qualifier="1", WaiterConfig=FAST
    )
    client.get_waiter("function_active_v2").wait(FunctionName="published-fn", WaiterConfig=FAST)
    assert invoke(client, "published-fn", "1") == {"version": "1", "answer": 4}


def test_a_killed_server_finishes_the_creation_at_the_next_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir) as first:
        client = first.client()
        assert create(client, "interrupted-fn", slow_package(6, 20_000))["State"] == "Pending"
        first.stop(signal.SIGKILL)
    with running_server(data_dir) as second:
        client = second.client()
        client.get_waiter("function_active_v2").wait(FunctionName="interrupted-fn", WaiterConfig=FAST)
        assert invoke(client, "interrupted-fn")["answer"] == 6
