"""Processes of sandbox uids found in /proc and killed, also those that left their session."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lamina.execution.sandbox.survivors import kill_processes, processes_of

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0, reason="needs Linux and root"
)
UID = 199_980  # an id no real user owns (the sandbox range's kind)


def _sleeper(uid: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "600"], user=uid, group=uid, extra_groups=[], start_new_session=True)


def test_every_process_of_the_range_is_found_and_killed_and_no_other() -> None:
    victims = [_sleeper(UID), _sleeper(UID + 1)]
    bystander = _sleeper(UID + 5)
    try:
        found = processes_of(lambda uid: UID <= uid <= UID + 1)
        assert found == {victims[0].pid: UID, victims[1].pid: UID + 1}
        assert kill_processes(lambda uid: UID <= uid <= UID + 1, wait_seconds=10) == {}
        # Killed: zombies until their parent (this test) reaps them, which count as gone.
        assert [victim.wait(10) for victim in victims] == [-9, -9]
        assert bystander.poll() is None
    finally:
        for process in (*victims, bystander):
            process.kill()
            process.wait()


def test_nothing_to_kill_returns_at_once() -> None:
    assert kill_processes(lambda uid: uid == UID + 9, wait_seconds=10) == {}
