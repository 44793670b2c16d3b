"""Reserved concurrency through boto3 against a real server: the API, the account's unreserved
floor, throttling with AWS's Reason, and persistence across a restart."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.lambda_calls import create_function, error_of
from tests.support.server import running_server

HELLO = {"app.py": "def handler(event, context):\n    return 'hello'\n"}
SLOW = {
    "app.py": "import time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 'done'\n"
}


def test_put_get_delete_function_concurrency(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO)
    before = lambda_client.get_account_settings()["AccountLimit"]
    assert (
        lambda_client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") is None
    )
    assert "Concurrency" not in lambda_client.get_function(FunctionName=name)

    put = lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=7)
    assert put["ReservedConcurrentExecutions"] == 7
    assert lambda_client.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 7
    assert lambda_client.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 7}
    limits = lambda_client.get_account_settings()["AccountLimit"]
    assert limits["ConcurrentExecutions"] == before["ConcurrentExecutions"]
    assert limits["UnreservedConcurrentExecutions"] == before["UnreservedConcurrentExecutions"] - 7

    deleted = lambda_client.delete_function_concurrency(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert (
        lambda_client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") is None
    )
    assert lambda_client.get_account_settings()["AccountLimit"] == before


def test_reservations_must_leave_the_unreserved_minimum(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy(HELLO)
    account = lambda_client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as too_much:
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=account - 99)
    assert error_of(too_much) == (
        "InvalidParameterValueException",
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100].",
        400,
    )
    assert (
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=account - 100)[
            "ReservedConcurrentExecutions"
        ]
        == account - 100
    )
    lambda_client.delete_function_concurrency(FunctionName=name)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.put_function_concurrency(
            FunctionName=f"missing-{uuid.uuid4().hex[:8]}", ReservedConcurrentExecutions=1
        )


def test_zero_reserved_concurrency_disables_the_function(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy(HELLO)
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(lambda_client.exceptions.TooManyRequestsException) as throttled:
        lambda_client.invoke(FunctionName=name)
    assert error_of(throttled) == ("TooManyRequestsException", "Rate Exceeded.", 429)
    assert throttled.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lambda_client.delete_function_concurrency(FunctionName=name)
    assert lambda_client.invoke(FunctionName=name)["StatusCode"] == 200


def test_reserved_concurrency_throttles_beyond_the_reservation_and_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    name = f"reserved-{uuid.uuid4().hex[:8]}"
    args = ("--account-concurrency", "10", "--min-unreserved-concurrency", "2")
    with running_server(data_dir, *args) as first:
        client = first.client("lambda")
        create_function(client, name, SLOW)
        client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        assert client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 9
        with pytest.raises(client.exceptions.InvalidParameterValueException):
            client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=9)
        first.stop(signal.SIGTERM)

    with running_server(data_dir, *args) as second:
        client = second.client("lambda")
        assert client.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 1
        client.invoke(FunctionName=name)  # warm: the slow call below starts at once
        slow_client = second.client("lambda")  # made here: making a client takes a while under load
        holding = threading.Event()
        outcome: list[str] = []

        def slow_call() -> None:
            # A probe below may hold the one slot when this arrives: then this is throttled, and
            # tries again until it gets the slot and keeps it for 2 s.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                holding.set()
                try:
                    response = slow_client.invoke(FunctionName=name, Payload=b'{"sleep": 2}')
                except slow_client.exceptions.TooManyRequestsException:
                    continue
                outcome.append(response["Payload"].read().decode())
                return

        worker = threading.Thread(target=slow_call)
        worker.start()
        holding.wait()
        throttled = None
        deadline = time.monotonic() + 60
        while throttled is None and worker.is_alive() and time.monotonic() < deadline:
            try:  # until the slow call holds the one reserved slot
                client.invoke(FunctionName=name, Payload=b'{"sleep": 0}')
            except client.exceptions.TooManyRequestsException as error:
                throttled = error
            time.sleep(0.05)
        worker.join()
        assert throttled is not None, "the second call was never throttled"
        assert throttled.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert outcome == ['"done"']
