"""GroupCommit: callers share writes, and none returns before a write that began after its call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from lamina.store.group_commit import GroupCommit


class Writes:
    """A write that records when it starts and ends and waits for `gate` when one is set."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.gate: asyncio.Event | None = None
        self.fail_next = False

    async def __call__(self) -> None:
        number = sum(1 for entry in self.log if entry.startswith("start")) + 1
        self.log.append(f"start {number}")
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise OSError(28, "No space left on device")
        self.log.append(f"end {number}")


async def _yield(times: int = 5) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


def run(scenario: Callable[[Writes, GroupCommit], Awaitable[None]], interval: float = 0.0) -> None:
    async def main() -> None:
        writes = Writes()
        await scenario(writes, GroupCommit(writes, interval, clock=lambda: 1000.0))

    asyncio.run(main())


def test_a_lone_caller_is_written_at_once() -> None:
    async def scenario(writes: Writes, commit: GroupCommit) -> None:
        await commit.commit()
        assert writes.log == ["start 1", "end 1"]

    run(scenario, interval=3600.0)  # the interval spaces writes; the first does not wait


def test_callers_arriving_during_a_write_share_the_next_one() -> None:
    async def scenario(writes: Writes, commit: GroupCommit) -> None:
        async def caller(name: str) -> None:
            await commit.commit()
            writes.log.append(f"{name} returned")

        writes.gate = asyncio.Event()
        first = asyncio.create_task(caller("first"))
        await _yield()
        assert writes.log == ["start 1"]
        later = [asyncio.create_task(caller("later")) for _ in range(10)]
        await _yield()
        writes.gate.set()
        await asyncio.gather(first, *later)
        # Those that came during write 1 return after write 2, which all ten share.
        log = writes.log
        assert [entry for entry in log if entry.startswith(("start", "end"))] == [
            "start 1",
            "end 1",
            "start 2",
            "end 2",
        ]
        assert log.index("first returned") > log.index("end 1")
        assert min(index for index, entry in enumerate(log) if entry == "later returned") > log.index("end 2")
        assert log.count("later returned") == 10

    run(scenario)


def test_a_failed_write_fails_its_callers_only() -> None:
    async def scenario(writes: Writes, commit: GroupCommit) -> None:
        writes.fail_next = True
        with pytest.raises(OSError):
            await commit.commit()
        await commit.commit()
        assert writes.log == ["start 1", "start 2", "end 2"]

    run(scenario)


def test_a_cancelled_caller_does_not_cancel_the_write_others_wait_for() -> None:
    async def scenario(writes: Writes, commit: GroupCommit) -> None:
        writes.gate = asyncio.Event()
        leaving = asyncio.create_task(commit.commit())
        staying = asyncio.create_task(commit.commit())
        await _yield()
        leaving.cancel()
        await _yield()
        writes.gate.set()
        await staying
        assert leaving.cancelled()
        assert writes.log == ["start 1", "end 1"]

    run(scenario)


def test_writes_start_at_most_once_per_interval() -> None:
    async def scenario(writes: Writes, commit: GroupCommit) -> None:
        await commit.commit()
        waiting = asyncio.create_task(commit.commit())
        await _yield()
        assert writes.log == ["start 1", "end 1"]  # the clock has not moved: the next write waits
        assert not waiting.done()
        waiting.cancel()

    run(scenario, interval=3600.0)
