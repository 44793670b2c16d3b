"""An account's logs stay under a disk quota (oldest first), and large writes leave the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from lamina.store.log_queries import scan_source
from lamina.store.log_quota import TARGET_SHARE, StreamFile, plan_quota
from lamina.store.log_reader import StreamBytes
from lamina.store.logs import FileLogStore

GROUP = "/aws/lambda/f"


def _file(name: str, size: int, age: int) -> StreamFile:
    return StreamFile(Path(name), size, age)


def test_nothing_is_planned_within_the_quota() -> None:
    assert plan_quota([_file("a", 50, 1), _file("b", 50, 2)], 100) is None


def test_the_least_recently_written_streams_go_first_down_to_the_target() -> None:
    files = [_file("new", 40, 3), _file("old", 40, 1), _file("mid", 40, 2)]
    plan = plan_quota(files, 100)  # 120 > 100: down to 75
    assert plan is not None
    assert [file.path.name for file in plan.delete] == ["old"]
    assert plan.trim is not None and plan.trim.path.name == "mid"
    assert plan.keep_bytes == 40 - (80 - int(100 * TARGET_SHARE))


def test_a_single_stream_over_the_quota_loses_its_front() -> None:
    plan = plan_quota([_file("only", 1000, 1)], 100)
    assert plan is not None and plan.delete == ()
    assert plan.trim is not None and plan.keep_bytes == int(100 * TARGET_SHARE)


def _size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*.jsonl"))


def test_the_store_deletes_old_streams_and_cuts_the_newest_through_its_own_paths(tmp_path: Path) -> None:
    async def main() -> None:
        store = FileLogStore(tmp_path)
        try:
            line = "z" * 1000
            for index in range(6):
                now = int(time.time() * 1000)
                store.append(GROUP, f"s{index}", [(now + n, f"{index} {n} {line}") for n in range(100)])
                store.flush()
                await asyncio.sleep(0.02)  # distinct modification times
            before = _size(tmp_path)
            quota = before // 3
            freed = await store.enforce_quota(quota)
            assert freed > 0 and _size(tmp_path) <= quota
            left = store.list_streams(GROUP)
            assert "s0" not in left and "s5" in left
            # The newest stream keeps its newest events, readable and in order.
            kept = [event.message.split()[1] for event in store.read(GROUP, "s5")]
            assert kept and kept[-1] == "99" and kept == sorted(kept, key=int)
            assert await store.enforce_quota(quota) == 0
            # A single stream over the quota is cut from its front.
            store.append(GROUP, "s5", [(int(time.time() * 1000), line) for _ in range(400)])
            store.flush()
            await store.enforce_quota(quota)
            assert _size(tmp_path) <= quota
            assert store.read(GROUP, "s5")[-1].message == line
        finally:
            store.close()

    asyncio.run(main())


def test_a_large_backlog_is_written_in_a_thread_and_reads_see_it_exactly_once(tmp_path: Path) -> None:
    async def main() -> None:
        store = FileLogStore(tmp_path)
        try:
            events = [(1000 + n, f"event {n} " + "q" * 200) for n in range(2000)]  # ~400 KB
            store.append(GROUP, "big", events)
            assert store.backlog_bytes > 400_000
            writing = asyncio.ensure_future(store.write_out())
            await asyncio.sleep(0)
            # While a thread writes, the stream is listed and a read sees every event once.
            assert store.has_stream(GROUP, "big") and "big" in store.list_streams(GROUP)
            stats = await store.stats_of(GROUP, ["big"])
            assert "big" in stats
            await writing
            assert store.backlog_bytes == 0
            assert [event.message for event in store.read(GROUP, "big")] == [text for _, text in events]
        finally:
            store.close()

    asyncio.run(main())


def test_write_out_of_a_few_lines_returns_with_them_in_the_file(tmp_path: Path) -> None:
    async def main() -> None:
        store = FileLogStore(tmp_path)
        try:
            store.append(GROUP, "s", [(1, "one")])
            await store.write_out()
            files = list(tmp_path.rglob("*.jsonl"))
            assert len(files) == 1 and b'"one"' in files[0].read_bytes()
        finally:
            store.close()

    asyncio.run(main())


def test_a_read_while_a_thread_writes_sees_every_event_exactly_once(tmp_path: Path) -> None:
    def messages(open_stream: Callable[[str], StreamBytes]) -> list[str]:
        with open_stream("big") as source:
            return [found.event.message for found in scan_source(source, "big")]

    async def main() -> None:
        store = FileLogStore(tmp_path)
        try:
            expected: list[str] = []
            for round_ in range(5):
                batch = [(1000 + n, f"r{round_} e{n} " + "w" * 300) for n in range(1000)]  # ~300 KB
                store.append(GROUP, "big", batch)
                expected += [text for _, text in batch]
                writing = asyncio.ensure_future(store.write_out())
                await asyncio.sleep(0)  # the batch is in a thread now
                late = [(5000, f"late {round_}")]
                store.append(GROUP, "big", late)  # buffered while the batch is written
                expected += [text for _, text in late]
                assert await store.read_streams(GROUP, ["big"], messages) == expected
                await writing
            assert await store.read_streams(GROUP, ["big"], messages) == expected
        finally:
            store.close()

    asyncio.run(main())
