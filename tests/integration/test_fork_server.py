"""The fork server: standbys (a child that joined its cgroups ahead becomes the next environment,
with the function's own limits, never the standby's provisional ones), and namespace environments
adopted by the zygote instead of waited for by a process of their own."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROLE
from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.server import RunningServer, running_server

CGROUP_PROBE = """
def handler(event, context):
    paths = dict(line.split(":", 2)[1:] for line in open("/proc/self/cgroup").read().splitlines())
    path = paths.get("memory")
    limit = open(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes").read().strip() if path else None
    return {"path": path, "limit": limit}
"""


def wait_for_standby(server: RunningServer, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while True:
        count = int(server.health()["standbyEnvironments"])
        if count or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_a_standby_becomes_the_next_environment_with_the_functions_limits(tmp_path: Path) -> None:
    # A server of its own: the shared one holds standbys of every runtime other tests used, and
    # its health counts them all, so it could not tell when python3.11's own is ready.
    with running_server(tmp_path / "data", "--sandbox", "process") as server:
        health = server.health()
        if health["startMethod"] != "zygote":
            pytest.skip("needs the fork server")
        if health["memoryEnforcement"] != "cgroup-v1":
            pytest.skip("the probe reads cgroup v1 files")
        lambda_client = server.client("lambda")
        first = _create(lambda_client, MemorySize=128)
        lambda_client.invoke(FunctionName=first, Payload=b"{}")  # a python3.11 start: a standby follows
        assert wait_for_standby(server) >= 1

        second = _create(lambda_client, MemorySize=256)
        response = lambda_client.invoke(FunctionName=second, Payload=b"{}")
        probe = json.loads(response["Payload"].read())

        assert response.get("FunctionError") is None, probe
        assert probe["path"].rsplit("/", 1)[-1].startswith("standby-")
        assert int(probe["limit"]) == 256 * 1024 * 1024  # narrowed from the standby's 10,240 MB
        assert wait_for_standby(server) >= 1  # and another one waits for the next start


def _create(client: Any, **options: Any) -> str:
    name = f"standby-{uuid.uuid4().hex[:10]}"
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": CGROUP_PROBE})},
        **options,
    )
    wait_active(client, name)
    return name


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        for child in _children(pending.pop()):
            found.append(child)
            pending.append(child)
    return found


def test_namespace_environments_are_adopted_by_the_fork_server_without_a_waiter(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    health = server.health()
    if health["sandbox"] != "namespaces" or health["startMethod"] != "zygote":
        pytest.skip("needs the namespaces tier and the fork server")
    name = deploy({"app.py": "import os\ndef handler(event, context):\n    return os.getpid()\n"})
    response = lambda_client.invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(response["Payload"].read()) == 2  # PID 2 of its own namespace, below its init
    zygotes = [pid for pid in _children(server.process.pid) if b"zygote.py" in _cmdline(pid)]
    environments = [pid for zygote in zygotes for pid in _children(zygote)]
    assert environments, "the fork servers have children"
    # Each child of a fork server is an environment's init, whose only child is the runtime, or a
    # standby: no waiter stands between the fork server and an init.
    assert [pid for pid in environments if len(_children(pid)) > 1] == []
    assert [pid for pid in environments for runtime in _children(pid) if _children(runtime)] == []
    # A standby's init and runtime-to-be wait as root; once assigned, the init drops to the
    # environment's uid like its runtime (it must not stay root inside the environment).
    pairs = [(_uid(init), _uid(runtime)) for init in environments for runtime in _children(init)]
    assigned = [pair for pair in pairs if pair[1] != 0]
    assert assigned and all(init_uid == runtime_uid for init_uid, runtime_uid in assigned), pairs
    # Environments other tests left idle may be stopping (evicted for this one's memory): only those
    # still running once the server's tree is read count (an exited one reads no command line).
    descendants = _descendants(server.process.pid)
    assert all(pid in descendants for pid in environments if _cmdline(pid))


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])  # the effective uid
    raise AssertionError(f"no Uid line for {pid}")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_the_namespaces_fork_server_builds_the_shared_root_in_a_mount_namespace_of_its_own(
    server: RunningServer, lambda_client: Any, deploy: Callable[..., str]
) -> None:
    health = server.health()
    if health["sandbox"] != "namespaces" or health["startMethod"] != "zygote":
        pytest.skip("needs the namespaces tier and the fork server")
    name = deploy({"app.py": "import os\ndef handler(event, context):\n    return sorted(os.listdir('/'))\n"})
    listing = json.loads(lambda_client.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert {"var", "tmp", "proc", "usr", "etc", "dev"} <= set(listing)
    server_namespace = os.readlink(f"/proc/{server.process.pid}/ns/mnt")
    zygotes = [pid for pid in _children(server.process.pid) if b"zygote.py" in _cmdline(pid)]
    assert zygotes and all(os.readlink(f"/proc/{pid}/ns/mnt") != server_namespace for pid in zygotes)
