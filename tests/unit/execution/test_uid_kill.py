"""Killing what an environment left behind by its uid (the process tier without cgroups): done by a
helper program in a worker thread, and the uid goes back to the pool only once nothing runs as it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lamina.execution.sandbox import process
from lamina.execution.sandbox.process import _Resources, kill_processes_of_uid
from lamina.execution.sandbox.uids import UidPool, UidRange, UidsExhausted

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0, reason="needs Linux and root"
)
UID = 199_990  # an id no real user owns (the sandbox range's kind)


def _sleeper(uid: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "600"], user=uid, group=uid, extra_groups=[], start_new_session=True)


def test_every_process_of_the_uid_is_killed_and_no_other() -> None:
    victims = [_sleeper(UID), _sleeper(UID)]
    bystander = _sleeper(UID + 1)
    try:
        kill_processes_of_uid(UID)
        assert [victim.wait(10) for victim in victims] == [-9, -9]
        assert bystander.poll() is None
    finally:
        for process in (*victims, bystander):
            process.kill()
            process.wait()


def test_release_kills_off_the_loop_and_gives_the_uid_back_once_the_kill_is_done() -> None:
    async def main() -> tuple[int, int, int | None]:
        uids = UidPool(UidRange(UID, 1))
        uid = uids.lease()
        victim = _sleeper(uid)
        resources = _Resources(uid=uid, uids=uids, kill_uid=kill_processes_of_uid)
        resources.release()
        # The kill runs in a worker thread: the loop carries on, and the uid stays leased meanwhile.
        in_use_while_killing = uids.in_use
        while uids.in_use:
            await asyncio.sleep(0.01)
        returncode = await asyncio.to_thread(victim.wait, 10)
        return in_use_while_killing, uids.in_use, returncode

    in_use_while_killing, in_use_after, returncode = asyncio.run(main())
    assert in_use_while_killing == 1
    assert in_use_after == 0
    assert returncode == -9


def test_a_uid_with_nothing_left_to_kill_is_not_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    kill_processes_of_uid(UID + 2)  # the common case: the environment's process is already gone
    assert [record.getMessage() for record in caplog.records] == []


def test_a_uid_that_still_runs_a_process_is_held_back() -> None:
    uids = UidPool(UidRange(UID, 2))
    uid = uids.lease()
    resources = _Resources(uid=uid, uids=uids, kill_uid=lambda _: False)  # the kill left a survivor
    resources.release()
    assert uids.quarantined == 1
    assert uids.lease() == UID + 1
    with pytest.raises(UidsExhausted):
        uids.lease()


def test_what_the_uid_left_in_dev_shm_is_gone_before_the_uid_is_leased_again() -> None:
    uids = UidPool(UidRange(UID, 1))
    uid = uids.lease()
    left = Path("/dev/shm") / f"lamina-test-{uid}-{os.getpid()}"
    left.write_bytes(b"secret")
    os.chown(left, uid, uid)
    try:
        _Resources(uid=uid, uids=uids, kill_uid=kill_processes_of_uid).release()
        assert not left.exists()
        assert uids.lease() == uid
    finally:
        left.unlink(missing_ok=True)


def test_a_held_back_uid_is_released_once_a_later_kill_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process, "_QUARANTINE_RETRY_SECONDS", 0.01)
    outcomes = [False, False, True]  # the survivor outlives two kills

    async def main() -> list[int]:
        uids = UidPool(UidRange(UID, 1))
        uid = uids.lease()
        _Resources(uid=uid, uids=uids, kill_uid=lambda _: outcomes.pop(0)).release()
        seen = []
        while uids.in_use and len(seen) < 500:
            seen.append(uids.quarantined)
            await asyncio.sleep(0.01)
        return [uids.in_use, uids.quarantined, max(seen)]

    assert asyncio.run(main()) == [0, 0, 1]
    assert outcomes == []
