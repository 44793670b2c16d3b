"""Processes running as Lamina's sandbox uids that no live environment owns, found in /proc and killed.

An environment's processes normally die with it (its cgroups, its process group, a kill by uid). Two
cases escape that: a server that was SIGKILLed (a double-forked `setsid` daemon keeps its uid, and
would share it with the next environment given that uid after a restart), and a kill that a forking
process outran. The server therefore kills every process of its uid range at start, before any uid is
leased, and checks a uid is empty before leasing it again.

A process counts as "of" a uid when its real, effective, saved or file-system uid is that uid
(/proc/PID/status, which a process cannot hide the way it can make /proc/PID root-owned with
PR_SET_DUMPABLE). Zombies are not counted: they run nothing and hold no memory; their parent (or init)
reaps them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

_PROC = Path("/proc")
_POLL_SECONDS = 0.02


def _uids_of(pid: int) -> tuple[set[int], bool]:
    """(every uid the process has, whether it is a zombie); ({}, False) once it is gone."""
    try:
        status = (_PROC / str(pid) / "status").read_text()
    except OSError:
        return set(), False
    uids: set[int] = set()
    zombie = False
    for line in status.splitlines():
        if line.startswith("Uid:"):
            uids = {int(value) for value in line.split()[1:]}
        elif line.startswith("State:"):
            zombie = line.split()[1] in ("Z", "X")
    return uids, zombie


def processes_of(matches: Callable[[int], bool]) -> dict[int, int]:
    """Live processes (pid -> the matching uid) with a uid for which `matches` is true; never this
    process. One pass over /proc: call it at start or off the event loop."""
    found: dict[int, int] = {}
    own = os.getpid()
    with contextlib.suppress(OSError):
        for entry in os.scandir(_PROC):
            if not entry.name.isdigit() or int(entry.name) == own:
                continue
            uids, zombie = _uids_of(int(entry.name))
            matching = [uid for uid in uids if matches(uid)]
            if matching and not zombie:
                found[int(entry.name)] = matching[0]
    return found


def _kill(pid: int, matches: Callable[[int], bool]) -> None:
    """SIGKILL `pid` if it still runs as a matching uid. Through a pidfd: a pid reused between the scan
    and the kill by someone else's process is seen (its uid no longer matches) and spared."""
    try:
        descriptor = os.pidfd_open(pid)
    except OSError:
        return
    try:
        uids, zombie = _uids_of(pid)
        if not zombie and any(matches(uid) for uid in uids):
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(descriptor, signal.SIGKILL)
    finally:
        os.close(descriptor)


def kill_processes(matches: Callable[[int], bool], wait_seconds: float) -> dict[int, int]:
    """SIGKILL every process of a matching uid, again until none is left (children forked before
    their parent died are found by the next pass) or `wait_seconds` have passed. Returns what is
    still alive (pid -> uid): empty when the uids are safe to lease. Blocking."""
    deadline = time.monotonic() + wait_seconds
    while True:
        alive = processes_of(matches)
        if not alive or time.monotonic() >= deadline:
            return alive
        for pid in alive:
            _kill(pid, matches)
        time.sleep(_POLL_SECONDS)
