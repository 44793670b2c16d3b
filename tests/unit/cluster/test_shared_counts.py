"""Counts every worker shares: a limit holds across processes racing for its last units, a dead
worker's column can be cleared, and the concurrency limiter and memory budget use them."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from lamina.cluster.shared_counts import SharedCounts
from lamina.errors import AwsError
from lamina.execution.concurrency import ConcurrencyLimiter
from lamina.execution.counts import Counts, LocalCounts
from lamina.execution.pool.budget import MemoryBudget

WORKERS = 4


def _race(path: str, index: int, attempts: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Take and give back the last units over and over, noting any moment the limit was passed."""
    counts = SharedCounts(Path(path), WORKERS, index)
    passed = 0
    for _ in range(attempts):
        if counts.try_add("slots", 1, 2):
            passed += counts.total("slots") > 2
            counts.add("slots", -1)
    taken = sum(counts.try_add("more", 1, 100) for _ in range(80))
    counts.close()
    results.put((taken, passed))


def test_processes_racing_for_a_limit_take_exactly_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "counts"
    table = SharedCounts(path, WORKERS, 0, create=True)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [
        context.Process(target=_race, args=(str(path), index, 5000, results)) for index in range(WORKERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert sum(passed for _, passed in outcomes) == 0
    assert sum(taken for taken, _ in outcomes) == 100 and table.total("more") == 100
    table.close()


def test_a_dead_workers_column_is_cleared_and_others_see_each_column(tmp_path: Path) -> None:
    path = tmp_path / "counts"
    primary = SharedCounts(path, 3, 0, create=True)
    worker = SharedCounts(path, 3, 2)
    worker.add("idle", 5)
    primary.set_own("idle", 1)
    assert primary.others("idle") == [(2, 5)] and worker.others("idle") == [(0, 1)]
    assert primary.total("idle") == 6 and primary.total("never-counted") == 0
    primary.clear_column(2)
    assert primary.total("idle") == 1 and primary.others("idle") == []
    worker.close()
    primary.close()


def test_a_table_of_another_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "counts"
    SharedCounts(path, 2, 0, create=True).close()
    with pytest.raises(ValueError):
        SharedCounts(path, 3, 1)


def test_reserved_concurrency_holds_across_two_workers_limiters(tmp_path: Path) -> None:
    path = tmp_path / "counts"
    first = ConcurrencyLimiter(10, SharedCounts(path, 2, 0, create=True), scope="acct/us-east-1")
    second = ConcurrencyLimiter(10, SharedCounts(path, 2, 1), scope="acct/us-east-1")
    for limiter in (first, second):
        limiter.set_reserved("f", 3)
    tokens = [first.enter("f"), second.enter("f"), second.enter("f")]
    with pytest.raises(AwsError) as throttled:
        first.enter("f")
    assert throttled.value.code == "TooManyRequestsException"
    second.leave("f", tokens.pop())
    first.enter("f")  # room again, whichever worker freed it
    # Unreserved: 10 - 3 reserved = 7 for everyone else, both workers together.
    for _ in range(4):
        first.enter("g")
    for _ in range(3):
        second.enter("h")
    with pytest.raises(AwsError):
        second.enter("g")
    assert first.unreserved_in_flight() == second.unreserved_in_flight() == 7


def test_the_memory_budget_is_one_total_for_every_worker(tmp_path: Path) -> None:
    path = tmp_path / "counts"
    first = MemoryBudget(1000, SharedCounts(path, 2, 0, create=True))
    second = MemoryBudget(1000, SharedCounts(path, 2, 1))
    assert first.try_reserve(600) and not second.try_reserve(500) and second.try_reserve(400)
    assert first.used_mb == second.used_mb == 1000
    with pytest.raises(RuntimeError):
        second.release(600)  # a worker gives back only what it reserved
    first.release(600)
    assert second.try_reserve(500)


def test_tables_left_by_killed_primaries_are_removed(tmp_path: Path) -> None:
    from lamina.cluster.shared_counts import remove_orphaned_tables

    dead = tmp_path / "lamina-counts-999999999-abcdef"
    alive = tmp_path / f"lamina-counts-{os.getpid()}-abcdef"
    other = tmp_path / "unrelated"
    for path in (dead, alive, other):
        path.write_bytes(b"x")
    assert remove_orphaned_tables(tmp_path) == [dead]
    assert alive.exists() and other.exists() and not dead.exists()


@pytest.mark.parametrize("where", ["one process", "workers"])
def test_what_other_servers_count_holds_every_check_and_is_not_this_servers(
    where: str, tmp_path: Path
) -> None:
    """Servers sharing a database: another server's 2 of a reservation of 3 leave this one 1."""
    if where == "workers":
        counts: Counts = SharedCounts(tmp_path / "counts", 2, 0, create=True)
        worker: Counts = SharedCounts(tmp_path / "counts", 2, 1)
    else:
        counts = worker = LocalCounts()
    limiter = ConcurrencyLimiter(10, counts, scope="acct/us-east-1")
    limiter.set_reserved("f", 3)
    elsewhere = {
        "acct/us-east-1/reserved/f": 2,
        "acct/us-east-1/unreserved": 6,
        "other/us-east-1/unreserved": 9,
    }
    limiter.set_in_flight_elsewhere(elsewhere)
    token = ConcurrencyLimiter(10, worker, scope="acct/us-east-1")
    token.set_reserved("f", 3)
    counted = token.enter("f")  # the last unit, taken on a worker
    with pytest.raises(AwsError) as throttled:
        limiter.enter("f")
    assert throttled.value.extra["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    limiter.enter("g")  # 7 unreserved: 6 elsewhere, 1 here
    with pytest.raises(AwsError) as throttled:
        limiter.enter("g")
    assert throttled.value.extra["Reason"] == "ConcurrentInvocationLimitExceeded"
    # What this server counts is published without what the others count; another account's keys
    # were not this limiter's to take.
    assert limiter.in_flight_here() == {"acct/us-east-1/unreserved": 1, "acct/us-east-1/reserved/f": 1}
    assert counts.total("other/us-east-1/unreserved") == 0
    token.leave("f", counted)
    limiter.set_in_flight_elsewhere({})  # the other servers' invocations ended (or they stopped)
    for _ in range(3):
        limiter.enter("f")
