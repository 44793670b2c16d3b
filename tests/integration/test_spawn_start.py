"""Environments the server starts itself (custom runtimes, and every runtime with --start-method
spawn) go through the confinement helper (sandbox/confine_exec.py) rather than a `preexec_fn`: they
still start, in each tier, with their limits applied (memory and process-count cgroups, an own uid,
and in the namespaces tier their own PID namespace and hostname), and a runtime's exit status is the
one it exited with."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ROLE
from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.server import RunningServer, running_server

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0, reason="sandbox tiers need Linux and root"
)
DEBIAN_PYTHON = "/usr/bin/python3.11"
SANDBOX_UIDS_FROM = 100000  # the server's default --sandbox-uids range starts here

# A custom runtime: reports what it runs as, from inside, in the shape of the Python probe below.
BOOTSTRAP = r"""#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
CGROUPS=$(tr '\n' ';' < /proc/self/cgroup)
while true; do
  HEADERS=$(mktemp)
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -i Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  case "$EVENT" in *exit*) exit 3 ;; esac
  BODY="{\"uid\": $(id -u), \"pid\": $$, \"hostname\": \"$(cat /proc/sys/kernel/hostname)\", \"cgroups\": \"$CGROUPS\"}"
  curl -sS -X POST "$API/invocation/$ID/response" -d "$BODY" >/dev/null
done
"""
PROBE = """
import os, sys

def handler(event, context):
    if event.get("exit"):
        sys.exit(3)
    return {
        "uid": os.getuid(),
        "pid": os.getpid(),
        "hostname": open("/proc/sys/kernel/hostname").read().strip(),
        "cgroups": open("/proc/self/cgroup").read().replace("\\n", ";"),
    }
"""


@pytest.fixture(scope="module", params=["process", "namespaces"])
def spawning_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    tier: str = request.param
    args = ["--sandbox", tier, "--start-method", "spawn"]
    if tier == "process":
        if not os.path.exists(DEBIAN_PYTHON):
            pytest.skip(f"the process tier's own uids need a python outside /root: {DEBIAN_PYTHON}")
        args += ["--runtime", f"python3.11={DEBIAN_PYTHON}"]
    # Under /tmp itself, reachable by other users: the process tier gives uids only then.
    parent = Path(tempfile.mkdtemp(prefix="lamina-spawn-", dir="/tmp"))
    parent.chmod(0o755)
    try:
        with running_server(parent / "data", *args) as server:
            health = server.health()
            assert health["sandbox"] == tier and health["startMethod"] == "spawn"
            yield server
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _deploy(server: RunningServer, runtime: str, memory_mb: int) -> str:
    name = f"spawn-{uuid.uuid4().hex[:10]}"
    if runtime.startswith("provided"):
        code = make_zip({"bootstrap": BOOTSTRAP}, modes={"bootstrap": 0o755})
    else:
        code = make_zip({"app.py": PROBE})
    client = server.client("lambda")
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": code},
        MemorySize=memory_mb,
    )
    wait_active(client, name)
    return name


def _invoke(server: RunningServer, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    response = server.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return response, json.loads(response["Payload"].read())


def _cgroup_folders(cgroups: str) -> dict[str, Path]:
    """controller -> the environment's cgroup folder on this host (cgroup v1 lines of /proc/self/cgroup)."""
    folders = {}
    for line in filter(None, cgroups.split(";")):
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            if controller in ("memory", "pids"):
                folders[controller] = Path("/sys/fs/cgroup") / controller / path.lstrip("/")
    return folders


@pytest.mark.parametrize("runtime", ["provided.al2023", "python3.11"])
def test_spawned_environments_start_confined_with_their_limits(
    spawning_server: RunningServer, runtime: str
) -> None:
    health = spawning_server.health()
    name = _deploy(spawning_server, runtime, memory_mb=192)

    response, probe = _invoke(spawning_server, name, {})

    assert "FunctionError" not in response, probe
    assert probe["uid"] >= SANDBOX_UIDS_FROM  # its own uid, never the server's root
    if health["sandbox"] == "namespaces":
        assert probe["pid"] == 2  # PID 2 of its own PID namespace, below its init (PID 1)
        assert probe["hostname"] == "localhost"  # its own UTS namespace
    else:
        assert probe["pid"] != 1
    if health["memoryEnforcement"] == "cgroup-v1":
        folders = _cgroup_folders(probe["cgroups"])
        assert folders["memory"].name == folders["pids"].name  # the environment's own cgroups
        limit = int((folders["memory"] / "memory.limit_in_bytes").read_text())
        assert limit == 192 * 1024 * 1024
        assert (folders["pids"] / "pids.max").read_text().strip() == "1024"


@pytest.mark.parametrize("runtime", ["provided.al2023", "python3.11"])
def test_a_runtime_that_exits_3_is_reported_with_exit_status_3(
    spawning_server: RunningServer, runtime: str
) -> None:
    name = _deploy(spawning_server, runtime, memory_mb=128)

    response, error = _invoke(spawning_server, name, {"exit": True})

    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Error: Runtime exited with error: exit status 3"), error
