"""One server per test: flags, first-start credentials, restarts, shutdown and the `lamina` CLI.

Shutdown tests track execution environments by the PIDs their handlers return (the python3.11
runtime process is the environment's process-group leader) and check that none outlives the
server, whichever way the server ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

import lamina
from tests.integration.conftest import ROLE
from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.server import (
    ACCESS_KEY,
    LAMBDA_TRUST_POLICY,
    SECRET_KEY,
    RunningServer,
    files_only,
    running_server,
    start_server,
)

APP = """\
import os
import pathlib
import time


def handler(event, context):
    print("output:", event.get("marker", "-"))
    if "started_dir" in event:
        pathlib.Path(event["started_dir"], str(os.getpid())).touch()
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "arn": context.invoked_function_arn}
"""

ISO_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (.*)")


def create(client: Any, name: str | None = None, role: str = ROLE, **options: Any) -> str:
    name = name or f"life-{uuid.uuid4().hex[:10]}"
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": APP})},
        **options,
    )
    wait_active(client, name)
    return name


def invoke(client: Any, name: str, event: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    return response, json.loads(response["Payload"].read())


def environment_without_credentials() -> dict[str, str]:
    """The test run's environment minus AWS_* and LAMINA_* (so the data directory's keys are used)."""
    return {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LAMINA_"))}


def run_lamina(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lamina", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment_without_credentials(),
    )


def client_for(server: RunningServer, region: str, key: str | None = None, secret: str | None = None) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name=region,
        aws_access_key_id=key or ACCESS_KEY,
        aws_secret_access_key=secret or SECRET_KEY,
        config=Config(retries={"max_attempts": 1}),
    )


# processes -------------------------------------------------------------------------------------
def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat); None once it is gone.

    Zombies count as gone: they no longer run, and in a container nobody may reap them.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def wait_until_gone(processes: dict[int, str | None], seconds: float) -> list[int]:
    """PIDs (with their recorded start time, so reuse doesn't count) still alive after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        alive = [
            pid for pid, started in processes.items() if started is not None and start_time(pid) == started
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


@contextlib.contextmanager
def busy_environments(
    server: RunningServer, started_dir: Path, *, busy: int, idle: int
) -> Iterator[tuple[dict[int, str | None], list[Future[Any]]]]:
    """`busy + idle` live environments, `busy` of them inside a long invocation; yields their PIDs.

    The in-flight invocations end with a connection error when the server goes away; the executor
    keeps those errors inside futures, where nothing raises them.
    """
    client = server.client("lambda")
    name = create(client, Timeout=120)
    total = busy + idle
    executor = ThreadPoolExecutor(max_workers=total)
    try:
        # Overlapping invocations each get their own environment.
        warm = list(executor.map(lambda _: invoke(client, name, {"sleep": 1.0})[1]["pid"], range(total)))
        assert len(set(warm)) == total, f"expected {total} environments, got PIDs {warm}"
        processes = {pid: start_time(pid) for pid in warm}
        assert all(processes.values())
        assert server.health()["environments"] == total

        in_flight = [
            executor.submit(invoke, client, name, {"sleep": 100, "started_dir": str(started_dir)})
            for _ in range(busy)
        ]
        deadline = time.monotonic() + 30
        while len(list(started_dir.iterdir())) < busy and time.monotonic() < deadline:
            time.sleep(0.05)
        started = {int(path.name) for path in started_dir.iterdir()}
        assert len(started) == busy and started <= set(processes)
        assert server.health()["environments"] == total
        yield processes, in_flight
    finally:
        # Don't wait here for invocations that only end with the server, which the caller stops.
        executor.shutdown(wait=False, cancel_futures=True)


# tests -----------------------------------------------------------------------------------------
def test_health_reports_status_and_live_environments(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as server:
        health = server.health()
        assert health["status"] == "ok"
        assert health["version"] == lamina.__version__
        tier = os.environ.get("LAMINA_TEST_SANDBOX", "process")  # see tests/support/server.py
        assert health["sandbox"] == tier or (
            tier == "auto" and health["sandbox"] in ("process", "namespaces")
        )
        assert {"python3.11", "provided.al2023", "provided.al2"} <= set(health["runtimes"])
        assert health["environments"] == 0

        client = server.client("lambda")
        name = create(client)
        invoke(client, name)
        assert server.health()["environments"] == 1
        invoke(client, name)
        assert server.health()["environments"] == 1  # the warm one was reused

        client.delete_function(FunctionName=name)
        deadline = time.monotonic() + 10
        while server.health()["environments"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.health()["environments"] == 0


def test_region_and_account_id_flags_shape_arns(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", "--region", "eu-west-1", "--account-id", "123456789012") as server:
        client = client_for(server, "eu-west-1")
        name = create(client, role="arn:aws:iam::123456789012:role/lambda-role")
        arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"
        assert client.get_function(FunctionName=name)["Configuration"]["FunctionArn"] == arn
        _, result = invoke(client, name)
        assert result["arn"] == arn
        health = server.health()
        assert (health["region"], health["accountId"]) == ("eu-west-1", "123456789012")


def test_generated_credentials_are_printed_once_and_by_lamina_env(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir, credentials=False) as first:
        output = first.output()
        key = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", output)
        secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", output)
        assert key is not None and secret is not None, output
        assert re.fullmatch(r"LKIA[A-Z2-7]{16}", key[1])
        assert len(secret[1]) >= 30
        client_for(first, "us-east-1", key[1], secret[1]).list_functions()

    with running_server(data_dir, credentials=False) as second:
        again = second.output()
        assert secret[1] not in again
        assert "AWS_SECRET_ACCESS_KEY" not in again

        printed = run_lamina("env", "--data-dir", str(data_dir), "--port", str(second.port))
        assert printed.returncode == 0, printed.stderr
        exports = dict(re.findall(r"^export (AWS_[A-Z_]+)=(.*)$", printed.stdout, re.MULTILINE))
        assert exports == {
            "AWS_ENDPOINT_URL": second.endpoint,
            "AWS_ACCESS_KEY_ID": key[1],
            "AWS_SECRET_ACCESS_KEY": secret[1],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
        }
        from_exports = boto3.client(
            "lambda",
            endpoint_url=exports["AWS_ENDPOINT_URL"],
            region_name=exports["AWS_DEFAULT_REGION"],
            aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"max_attempts": 1}),
        )
        iam = boto3.client(
            "iam",
            endpoint_url=exports["AWS_ENDPOINT_URL"],
            region_name=exports["AWS_DEFAULT_REGION"],
            aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        )
        iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)
        name = create(from_exports)
        assert [f["FunctionName"] for f in from_exports.list_functions()["Functions"]] == [name]

        wrong = client_for(second, "us-east-1", key[1], "not-" + secret[1])
        with pytest.raises(wrong.exceptions.ClientError) as rejected:
            wrong.list_functions()
        assert rejected.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_restart_keeps_functions(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir) as first:
        client = first.client("lambda")
        name = create(client, MemorySize=256, Environment={"Variables": {"KEPT": "yes"}})
        before = client.get_function(FunctionName=name)["Configuration"]
        invoke(client, name)
        first.stop(signal.SIGTERM)

    with running_server(data_dir) as second:
        client = second.client("lambda")
        after = client.get_function(FunctionName=name)["Configuration"]
        assert after["CodeSha256"] == before["CodeSha256"]
        assert after["RevisionId"] == before["RevisionId"]
        assert (after["MemorySize"], after["Environment"]) == (256, {"Variables": {"KEPT": "yes"}})
        response, result = invoke(client, name)
        assert "FunctionError" not in response
        assert result["arn"].endswith(f":function:{name}")
        assert [f["FunctionName"] for f in client.list_functions()["Functions"]] == [name]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_ends_every_environment(tmp_path: Path, stop_signal: signal.Signals) -> None:
    # Handlers report their PIDs and touch files on the host: the process tier allows both.
    server = start_server(tmp_path / "data", "--sandbox", "process")
    try:
        started_dir = tmp_path / "started"
        started_dir.mkdir()
        with busy_environments(server, started_dir, busy=3, idle=1) as (processes, in_flight):
            server.process.send_signal(stop_signal)
            try:
                server.process.wait(15)
            except subprocess.TimeoutExpired:
                pytest.fail(f"server still running 15 s after {stop_signal.name}:\n{server.output()[-3000:]}")
            assert wait_until_gone(processes, 5) == []
            # Environments stop before connections drain: in-flight callers get an answer, not a cut.
            for future in in_flight:
                response, payload = future.result(timeout=5)
                assert response["FunctionError"] == "Unhandled"
                assert payload["errorType"] == "Runtime.ExitError"
            assert "Traceback" not in server.output()
    finally:
        server.stop(signal.SIGKILL)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_exits_with_status_zero(tmp_path: Path, stop_signal: signal.Signals) -> None:
    server = start_server(tmp_path / "data")
    try:
        client = server.client("lambda")
        invoke(client, create(client))  # one idle environment to stop
        server.process.send_signal(stop_signal)
        returncode = server.process.wait(15)
        assert returncode == 0, server.output()[-3000:]
    finally:
        server.stop(signal.SIGKILL)


@pytest.mark.parametrize("tier", ["process", "namespaces"])
def test_stopping_leaves_no_cgroup_folders(tmp_path: Path, tier: str) -> None:
    """Every environment's cgroups and the server's own folders go with the server, including those of
    a fork server's standby, killed at shutdown a moment before its folders are removed (the kernel
    refuses to remove a cgroup until its last process has exited). A few rounds: it is a race."""
    for attempt in range(3):
        server = start_server(tmp_path / f"data-{attempt}", "--sandbox", tier)
        try:
            client = server.client("lambda")
            health = server.health()
            if health["memoryEnforcement"] == "watchdog" and not _server_cgroups(server.process.pid):
                pytest.skip("this host gives the server no cgroups")
            invoke(client, create(client))  # an environment, and a standby of its runtime after it
            deadline = time.monotonic() + 30
            while health["startMethod"] == "zygote" and not health["standbyEnvironments"]:
                assert time.monotonic() < deadline, "no standby was started"
                time.sleep(0.05)
                health = server.health()
            folders = _server_cgroups(server.process.pid)
            assert folders, "the server made cgroups"
            assert any(folder.is_dir() and any(folder.iterdir()) for folder in folders)
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(30) == 0, server.output()[-3000:]
            assert [folder for folder in folders if folder.exists()] == [], server.output()[-3000:]
        finally:
            server.stop(signal.SIGKILL)


def _server_cgroups(pid: int) -> list[Path]:
    """The folders a server makes in each cgroup hierarchy it is in: <its cgroup>/lamina-<pid>."""
    root = Path("/sys/fs/cgroup")
    folders = set()
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        hierarchies = [root] if controllers == "" else [root / name for name in controllers.split(",")]
        for hierarchy in hierarchies:
            folder = hierarchy / path.lstrip("/") / f"lamina-{pid}"
            if folder.is_dir():
                folders.add(folder)
    return sorted(folders)


def test_environments_die_with_a_killed_server(tmp_path: Path) -> None:
    # Handlers report their PIDs and touch files on the host: the process tier allows both.
    server = start_server(tmp_path / "data", "--sandbox", "process")
    try:
        started_dir = tmp_path / "started"
        started_dir.mkdir()
        with busy_environments(server, started_dir, busy=2, idle=1) as (processes, _):
            server.process.send_signal(signal.SIGKILL)
            assert server.process.wait(10) == -signal.SIGKILL
            # The server had no chance to clean up: the parent-death signal does it.
            assert wait_until_gone(processes, 5) == []
    finally:
        server.stop(signal.SIGKILL)


def test_logs_command_prints_function_output_and_platform_lines(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir) as server:
        client = server.client("lambda")
        name = create(client)
        marker = uuid.uuid4().hex
        response, _ = invoke(client, name, {"marker": marker})
        request_id = response["ResponseMetadata"]["RequestId"]

        # The server writes log events out a few times a second (like CloudWatch, not synchronously).
        deadline = time.monotonic() + 10
        while True:
            printed = run_lamina("logs", name, "--data-dir", str(data_dir))
            assert printed.returncode == 0, printed.stderr
            if f"END RequestId: {request_id}" in printed.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        lines = printed.stdout.splitlines()
        messages = []
        for line in lines:
            match = ISO_LINE.fullmatch(line)
            assert match is not None, line
            messages.append(match[1])
        assert f"output: {marker}" in messages
        start = messages.index(f"START RequestId: {request_id} Version: $LATEST")
        end = messages.index(f"END RequestId: {request_id}")
        assert start < messages.index(f"output: {marker}") < end
        report = messages[end + 1]
        assert re.fullmatch(
            rf"REPORT RequestId: {request_id}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
            r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t",
            report,
        ), report

        missing = run_lamina("logs", "no-such-function", "--data-dir", str(data_dir))
        assert missing.stdout == ""


def test_logs_follow_prints_new_invocations(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir) as server:
        client = server.client("lambda")
        name = create(client)
        first, second = f"first-{uuid.uuid4().hex}", f"second-{uuid.uuid4().hex}"
        invoke(client, name, {"marker": first})

        follower = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lamina",
                "logs",
                name,
                "--data-dir",
                str(data_dir),
                "--follow",
                "--interval",
                "0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=environment_without_credentials(),
        )
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(
            target=lambda: [lines.put(line) for line in follower.stdout or []], daemon=True
        )
        reader.start()

        def wait_for(text: str, seconds: float) -> bool:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    if text in lines.get(timeout=0.2):
                        return True
                except queue.Empty:
                    pass
            return False

        try:
            assert wait_for(f"output: {first}", 20), "--follow did not print the existing events"
            invoke(client, name, {"marker": second})
            assert wait_for(f"output: {second}", 20), "--follow did not print a new invocation"
            assert follower.poll() is None  # still following
        finally:
            follower.kill()
            follower.wait(10)
            reader.join(5)
            if follower.stdout is not None:
                follower.stdout.close()


@files_only
def test_relative_data_dir_works(tmp_path: Path) -> None:
    """`lamina server --data-dir .lamina` from the project folder, as the quick start runs it."""
    with running_server(Path(".lamina"), cwd=tmp_path) as server:
        client = server.client("lambda")
        name = create(client)
        response, result = invoke(client, name)
        assert "FunctionError" not in response, result
        assert (tmp_path / ".lamina" / "lamina.db").exists()
