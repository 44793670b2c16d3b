"""Limits enforced from outside the environment, warm reuse and scale-out, against a real server."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.integration.conftest import ROLE
from tests.support.lambda_calls import wait_active, wait_updated
from tests.support.packaging import make_zip
from tests.support.server import RunningServer, running_server

# "pid" identifies the environment's process: a token drawn at import, because os.getpid() is 1 in
# every environment of the namespaces sandbox (each has its own PID namespace).
PID_HANDLER = """
import os, time
CALLS = 0
PID = os.urandom(8).hex()
def handler(event, context):
    global CALLS
    CALLS += 1
    time.sleep(event.get("sleep", 0))
    return {"pid": PID, "calls": CALLS}
"""


def _create(client: Any, name: str, source: str, **options: Any) -> None:
    """A python3.11 function on a test's own server (the shared `deploy` fixture serves the session one)."""
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": source})},
        **options,
    )
    wait_active(client, name)


def _invoke(client: Any, name: str, event: dict[str, Any], **options: Any) -> tuple[dict[str, Any], Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **options)
    return response, json.loads(response["Payload"].read())


def test_timeout_kills_environment_and_reports_aws_message(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy({"app.py": PID_HANDLER}, Timeout=1)
    _, first = _invoke(lambda_client, name, {})
    started = time.monotonic()
    response, payload = _invoke(lambda_client, name, {"sleep": 30}, LogType="Tail")
    assert time.monotonic() - started < 15
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
    log = base64.b64decode(response["LogResult"]).decode()
    assert "Task timed out after 1.00 seconds" in log
    assert "Status: timeout" in log
    _, after = _invoke(lambda_client, name, {})
    assert after["pid"] != first["pid"]
    assert after["calls"] == 1


MEMORY_HOG = (
    "import os, time\n"
    "PID = os.urandom(8).hex()\n"
    "def handler(event, context):\n"
    "    if event.get('hog'):\n"
    "        block = bytearray(300 * 1024 * 1024)\n"
    "        for i in range(0, len(block), 4096):\n"
    "            block[i] = 1\n"
    "        time.sleep(2)\n"
    "    return PID\n"
)


def _assert_memory_limit_enforced(client: Any, name: str) -> None:
    _, first_pid = _invoke(client, name, {})
    response, payload = _invoke(client, name, {"hog": True}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.OutOfMemory"
    log = base64.b64decode(response["LogResult"]).decode()
    assert "Error Type: Runtime.OutOfMemory" in log
    assert "Max Memory Used: " in log
    _, next_pid = _invoke(client, name, {})
    assert next_pid != first_pid


def test_memory_above_limit_kills_environment(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    """Default enforcement: a kernel cgroup where the host allows it (reported by health)."""
    assert server.health()["memoryEnforcement"] in ("cgroup-v1", "cgroup-v2", "watchdog")
    _assert_memory_limit_enforced(lambda_client, deploy({"app.py": MEMORY_HOG}, MemorySize=128, Timeout=20))


def test_memory_watchdog_enforces_limit_without_cgroups(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", "--memory-limits", "watchdog") as server:
        assert server.health()["memoryEnforcement"] == "watchdog"
        client = server.client("lambda")
        _create(client, "hog", MEMORY_HOG, MemorySize=128, Timeout=20)
        _assert_memory_limit_enforced(client, "hog")


def test_warm_environment_is_reused_and_keeps_globals(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": PID_HANDLER})
    results = [_invoke(lambda_client, name, {})[1] for _ in range(5)]
    assert len({result["pid"] for result in results}) == 1
    assert [result["calls"] for result in results] == [1, 2, 3, 4, 5]


def test_concurrent_invocations_scale_out(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy({"app.py": PID_HANDLER}, Timeout=30)
    _invoke(lambda_client, name, {})  # one warm environment already exists
    parallel = 6
    started = time.monotonic()
    with ThreadPoolExecutor(parallel) as executor:
        results = list(executor.map(lambda _: _invoke(lambda_client, name, {"sleep": 1})[1], range(parallel)))
    elapsed = time.monotonic() - started
    assert len({result["pid"] for result in results}) == parallel  # one in-flight call per environment
    assert elapsed < parallel * 0.6  # ran side by side, not one after another


def test_code_update_never_reaches_old_warm_environment(
    lambda_client: Any, deploy: Callable[..., str]
) -> None:
    name = deploy(
        {"app.py": "import os\nPID = os.urandom(8).hex()\ndef handler(e, c):\n    return ['v1', PID]\n"}
    )
    old_version, old_pid = _invoke(lambda_client, name, {})[1]
    lambda_client.update_function_code(
        FunctionName=name,
        ZipFile=make_zip(
            {"app.py": "import os\nPID = os.urandom(8).hex()\ndef handler(e, c):\n    return ['v2', PID]\n"}
        ),
    )
    wait_updated(lambda_client, name)
    updated = _invoke(lambda_client, name, {})[1]
    assert isinstance(updated, list), updated
    new_version, new_pid = updated
    assert (old_version, new_version) == ("v1", "v2")
    assert new_pid != old_pid
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": {"MODE": "x"}})
    wait_updated(lambda_client, name)
    assert _invoke(lambda_client, name, {})[1][1] != new_pid


def test_idle_environments_stop_after_keep_alive(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", "--keep-alive", "1") as server:
        client = server.client("lambda")
        _create(client, "idle", PID_HANDLER)
        first = _invoke(client, "idle", {})[1]
        assert server.health()["environments"] == 1
        deadline = time.monotonic() + 15
        while server.health()["environments"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server.health()["environments"] == 0
        second = _invoke(client, "idle", {})[1]
        assert second["pid"] != first["pid"] and second["calls"] == 1


def test_account_concurrency_limit_throttles(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", "--account-concurrency", "2") as server:
        client = server.client("lambda")
        _create(client, "busy", PID_HANDLER, Timeout=30)

        def call(_: int) -> str:
            try:
                _invoke(client, "busy", {"sleep": 2})
                return "ok"
            except client.exceptions.TooManyRequestsException as error:
                assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429
                assert error.response["Reason"] == "ConcurrentInvocationLimitExceeded"
                return "throttled"

        with ThreadPoolExecutor(4) as executor:
            outcomes = list(executor.map(call, range(4)))
        assert outcomes.count("ok") == 2
        assert outcomes.count("throttled") == 2
