"""Attack 3 of issue 12: a function's double-forked `setsid` daemon outlives a server that is SIGKILLed
and keeps its uid; after a restart that uid goes to another function's environment, whose memory
(role credentials, secrets) the survivor can then read. Now the restarted server kills every process
of its uid range before it leases any uid (and before it answers at all)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.security.conftest import (
    TIERS,
    assert_still_serving,
    create_function,
    invoke,
    server_in_tier,
    tier_arguments,
)
from tests.support.server import running_server

# The daemon execs an interpreter whose command line carries a marker the host can find in /proc
# (in the namespaces tier its pid is another namespace's).
DAEMON = r"""
import os, sys

def handler(event, context):
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            devnull = os.open(os.devnull, os.O_RDWR)
            for descriptor in (0, 1, 2):
                os.dup2(devnull, descriptor)
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(3600)", event["marker"]])
        os._exit(0)
    os.waitpid(pid, 0)
    return {"uid": os.getuid()}
"""


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


def _wait_for(condition: object, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("tier", TIERS)
def test_a_daemon_left_by_a_killed_server_dies_before_the_restarted_server_serves(tier: str) -> None:
    marker = f"lamina-survivor-{uuid.uuid4().hex}"
    # A range of its own: no other server starting on this host meanwhile kills the daemon instead.
    uids = ("--sandbox-uids", "3500000-3500999" if tier == "process" else "3501000-3501999")
    try:
        with server_in_tier(tier, *uids) as server:
            name = create_function(server, {"app.py": DAEMON}, "app.handler")
            response, result = invoke(server, name, {"marker": marker})
            assert "FunctionError" not in response, result
            assert _wait_for(lambda: _processes_with(marker)), "the daemon never started"
            # (In the process tier nothing of the dead server kills the daemon: it left the process
            # group and the parent-death signal is not inherited. Any other server starting on this host
            # meanwhile may kill it first, as it kills what dead servers left in their cgroups.)
            server.stop(signal.SIGKILL)
            with running_server(server.data_dir, *tier_arguments(tier), *uids) as restarted:
                # Health answers only once the sandbox is built: by then the range is empty.
                assert _processes_with(marker) == []
                assert_still_serving(restarted)
    finally:
        for pid in _processes_with(marker):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
