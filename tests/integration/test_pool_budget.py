"""The memory budget against a real server: LRU eviction across functions, 429 for synchronous calls
when every environment is busy, Event invocations queued until memory frees up."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROLE
from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.server import RunningServer, running_server

# Returns an id drawn when its environment started (pids may repeat across PID namespaces), and
# waits for `gate` (a path) to exist when the event names one, so a test decides when calls end.
GATED_HANDLER = """
import os, time
ENVIRONMENT_ID = os.urandom(8).hex()
# Held for the environment's life, so an idle environment's footprint (what the budget charges it)
# is about this much.
HELD = bytearray(int(os.environ.get("HOLD_MB", "0")) * 1024 * 1024)
HELD[::4096] = b"x" * len(HELD[::4096])
def handler(event, context):
    gate = event.get("gate")
    while gate and not os.path.exists(gate):
        time.sleep(0.02)
    if event.get("marker"):
        print("ran", event["marker"])
    return {"environment": ENVIRONMENT_ID}
"""
DEADLINE_SECONDS = 60


def _create(client: Any, name: str, hold_mb: int = 0) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": GATED_HANDLER})},
        MemorySize=128,
        Timeout=120,
        Environment={"Variables": {"HOLD_MB": str(hold_mb)}},
    )
    wait_active(client, name)


def _environment(client: Any, name: str, event: dict[str, Any] | None = None) -> str:
    """Invoke; the id of the environment that ran the call."""
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    assert "FunctionError" not in response, response["Payload"].read()
    return str(json.loads(response["Payload"].read())["environment"])


def _wait_for(server: RunningServer, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; server output:\n{server.output()[-4000:]}")


@contextlib.contextmanager
def _clients(server: RunningServer, count: int) -> Iterator[list[Any]]:
    """Lambda clients closed before the server stops (an open socket to a stopped server would
    surface later as a ResourceWarning in another test)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(contextlib.closing(server.client("lambda"))) for _ in range(count)]


def _logs(server: RunningServer, name: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "lamina", "logs", name, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
    ).stdout  # empty while the function has no log group yet (callers poll)


def test_a_new_function_evicts_the_least_recently_used_idle_environment(tmp_path: Path) -> None:
    with (
        running_server(
            tmp_path / "data", "--memory-budget", "256", "--keep-alive-policy", "adaptive"
        ) as server,
        _clients(server, 1) as [client],
    ):
        # Idle environments are charged their real footprint: each holds 80 MB, so two idle ones
        # (about 160 MB) leave too little of the 256 MB for a third function's 128 MB.
        for name in ("first", "second", "third"):
            _create(client, name, hold_mb=80)
        first = _environment(client, "first")
        second = _environment(client, "second")
        health = server.health()
        assert health["memoryBudgetMb"] == 256
        assert 160 <= health["memoryUsedMb"] < 256  # footprints, not 2 x MemorySize
        assert (health["idleEnvironments"], health["busyEnvironments"]) == (2, 0)
        assert health["keepAlivePolicy"] == "adaptive"
        assert _environment(client, "first") == first  # warm, and now more recently used than "second"

        _environment(client, "third")  # does not fit: evicts "second"
        health = server.health()
        assert (health["idleEnvironments"], health["environments"]) == (2, 2)
        assert _environment(client, "first") == first  # still warm
        assert _environment(client, "second") != second  # cold: it had been evicted


def test_busy_budget_throttles_sync_calls_and_queues_events(tmp_path: Path) -> None:
    # The gate is a file on the host, which only the process tier shows to functions.
    with (
        running_server(tmp_path / "data", "--memory-budget", "256", "--sandbox", "process") as server,
        _clients(server, 3) as clients,
    ):
        client = clients[0]
        for name in ("long-a", "long-b", "queued"):
            _create(client, name)
        gate = tmp_path / "gate"
        with ThreadPoolExecutor(2) as executor:
            calls = [
                executor.submit(_environment, other, name, {"gate": str(gate)})
                for other, name in zip(clients[1:], ("long-a", "long-b"), strict=True)
            ]
            try:
                _wait_for(server, lambda: server.health()["busyEnvironments"] == 2, "two busy environments")

                with pytest.raises(client.exceptions.TooManyRequestsException) as throttled:
                    client.invoke(FunctionName="queued", Payload=b"{}")
                response = throttled.value.response
                assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
                assert response["Reason"] == "ConcurrentInvocationLimitExceeded"
                assert "256 of 256 MB are in use" in response["message"]

                marker = uuid.uuid4().hex
                accepted = client.invoke(
                    FunctionName="queued",
                    InvocationType="Event",
                    Payload=json.dumps({"marker": marker}).encode(),
                )
                assert accepted["StatusCode"] == 202
                assert accepted["Payload"].read() == b""  # also hands the connection back
                assert marker not in _logs(server, "queued")  # no room while both calls are held
            finally:
                gate.touch()
            assert all(call.result(DEADLINE_SECONDS) for call in calls)
        _wait_for(server, lambda: f"ran {marker}" in _logs(server, "queued"), "the queued Event invocation")
        assert _logs(server, "queued").count(f"ran {marker}") == 1


def test_memory_budget_option_is_validated(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lamina", "server", "--data-dir", str(tmp_path), "--memory-budget", "lots"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "expected megabytes" in result.stderr


def test_idle_environments_cost_their_footprint_so_many_stay_warm(tmp_path: Path) -> None:
    """Forked environments share their zygote's pages: far more than budget / MemorySize stay warm."""
    with (
        running_server(tmp_path / "data", "--memory-budget", "256") as server,
        _clients(server, 1) as [client],
    ):
        names = [f"small-{index}" for index in range(6)]  # 6 x 128 MB of MemorySize in a 256 MB budget
        for name in names:
            _create(client, name)
        first_round = {name: _environment(client, name) for name in names}
        health = server.health()
        assert (health["idleEnvironments"], health["environments"]) == (6, 6)
        assert health["memoryUsedMb"] < 256
        assert {name: _environment(client, name) for name in names} == first_round  # all still warm
