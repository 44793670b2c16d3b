"""The spawner's helper started ahead of need is never lost: a close while it is still starting
(in a worker thread) reaps it, so no confine_exec.py outlives the sandbox."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from lamina.execution.sandbox.spawner import HELPER, Spawner


def _helpers_of_ours() -> list[int]:
    """Pids of this process's children running confine_exec.py."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and str(HELPER).encode() in cmdline and " Z " not in stat:
            found.append(int(entry.name))
    return found


def test_a_close_while_the_helper_ahead_is_starting_reaps_it() -> None:
    async def main() -> None:
        spawner = Spawner()
        spawner._start_refill()  # what every spawn does after taking the ready helper
        await asyncio.sleep(0)  # the worker thread is starting the helper now
        spawner.close()

    for _ in range(5):
        asyncio.run(main())  # returns once the worker thread is done
        assert _helpers_of_ours() == []


def test_a_close_reaps_the_helper_waiting_ahead() -> None:
    async def main() -> None:
        spawner = Spawner()
        spawner._start_refill()
        assert spawner._refill is not None
        await spawner._refill
        assert _helpers_of_ours() != []  # one helper waits for the next start
        spawner.close()

    asyncio.run(main())
    assert _helpers_of_ours() == []
