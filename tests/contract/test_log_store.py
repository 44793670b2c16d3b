"""The log store as the server and the Logs API use it (ServerLogStore): the data directory's files
and the PostgreSQL tables several servers share, held to the same behaviour; and what only the
shared tables have to get right (two servers on one database)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.domain.log_patterns import compile_pattern
from lamina.store.logs import FileLogStore
from lamina.store.ports import PageQuery, SearchQuery, ServerLogStore, StoredEvent, TimeWindow
from lamina.store.postgres.logs import PostgresLogStore, log_pool
from tests.support.postgres import PostgresServer

GROUP = "/aws/lambda/contract"
SCOPE = "123456789012/us-east-1"
EVERYTHING = TimeWindow()
# A store of the adapter under test over the same data: a restarted server, or another server.
Opener = Callable[[], ServerLogStore]


@pytest.fixture(params=["files", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[ServerLogStore] = []
    pools: list[Any] = []
    if request.param == "files":

        def open_files() -> ServerLogStore:
            opened.append(FileLogStore(tmp_path / "logs"))
            return opened[-1]

        yield open_files
    else:
        url = request.getfixturevalue("postgres").new_database()

        def open_postgres() -> ServerLogStore:
            pools.append(log_pool(url))
            opened.append(PostgresLogStore(pools[-1], SCOPE))
            return opened[-1]

        yield open_postgres
    for store in opened:
        store.close()
    for pool in pools:
        pool.close()


@pytest.fixture
def store(opener: Opener) -> ServerLogStore:
    return opener()


def run(awaitable: Any) -> Any:
    return asyncio.run(awaitable)


def messages(events: list[Any]) -> list[str]:
    return [item.event.message for item in events]


def test_groups_are_made_changed_listed_and_removed(store: ServerLogStore, opener: Opener) -> None:
    assert store.create_group("/app/one", {"team": "a"})
    assert not store.create_group("/app/one")
    info = store.group_info("/app/one")
    assert info is not None and info.tags == {"team": "a"} and info.created_ms > 0
    info.retention_days = 7
    store.update_group("/app/one", info)
    store.append(GROUP, "s", [(1, "buffered")])
    assert store.list_groups() == ["/app/one", GROUP] == run(store.groups())
    store.flush()
    again = opener()  # a restart (or, sharing a database, another server) sees them
    reread = again.group_info("/app/one")
    assert reread is not None and reread.retention_days == 7 and reread.tags == {"team": "a"}
    assert again.group_info(GROUP) is not None  # made by its first write
    assert run(store.remove_group("/app/one")) and not run(store.remove_group("/app/one"))
    assert store.group_info("/app/one") is None
    assert store.create_group("/app/one")  # the name is free again


def test_streams_are_made_by_appends_or_explicitly_and_removed(store: ServerLogStore) -> None:
    store.create_group("/app")
    assert store.create_stream("/app", "made") and not store.create_stream("/app", "made")
    store.append("/app", "written", [(5, "x")])
    assert store.has_stream("/app", "made") and store.has_stream("/app", "written")
    assert not store.has_stream("/app", "never")
    assert run(store.stream_names("/app")) == ["made", "written"]
    assert run(store.remove_stream("/app", "made")) and not run(store.remove_stream("/app", "made"))
    assert run(store.stream_names("/app")) == ["written"]
    assert store.read("/app", "written")[0].message == "x"


def test_stats_follow_appends(store: ServerLogStore) -> None:
    store.append(GROUP, "s", [(20, "b"), (10, "a")], ingested=100)
    run(store.write_out())
    store.append(GROUP, "s", [(30, "c")], ingested=200)
    stats = run(store.stats_of(GROUP, ["s", "missing"]))
    assert list(stats) == ["s"]
    found = stats["s"]
    assert (found.first_event_ms, found.last_event_ms, found.last_ingestion_ms) == (10, 30, 200)
    assert found.stored_bytes >= 3


def test_pages_follow_each_other_in_both_directions_and_end_where_the_stream_does(
    store: ServerLogStore,
) -> None:
    store.append(GROUP, "s", [(index, f"event {index}") for index in range(5)])
    run(store.write_out())
    store.append(GROUP, "s", [(5, "still buffered")])

    def page(forward: bool, position: int | None, limit: int = 3, window: TimeWindow = EVERYTHING) -> Any:
        return run(store.read_page(GROUP, "s", PageQuery(window, forward, position, limit)))

    first, origin = page(True, 0)
    assert messages(first.events) == ["event 0", "event 1", "event 2"]
    second, _ = page(True, first.resume)
    assert messages(second.events) == ["event 3", "event 4", "still buffered"]
    end, _ = page(True, second.resume)
    assert end.events == [] and end.resume == second.resume  # the end stays the end
    last, end_origin = page(False, None, limit=2)
    assert messages(last.events) == ["event 4", "still buffered"]
    assert end_origin == last.events[-1].end and last.resume == last.events[0].offset
    before, _ = page(False, last.resume)
    assert messages(before.events) == ["event 1", "event 2", "event 3"]
    rest, _ = page(False, before.resume)
    assert messages(rest.events) == ["event 0"] and rest.resume == origin
    timed, _ = page(True, 0, limit=10, window=TimeWindow(2, 4))
    assert messages(timed.events) == ["event 2", "event 3"]
    assert run(store.read_page(GROUP, "never", PageQuery(EVERYTHING, True, None, 3))) is None


def test_searches_merge_streams_in_key_order_past_the_token(store: ServerLogStore) -> None:
    store.append(GROUP, "b", [(1, "b ERROR 1"), (3, "b ok"), (5, "b ERROR 5")])
    run(store.write_out())
    store.append(GROUP, "a", [(1, "a ERROR 1"), (4, "a ERROR 4")])  # buffered only

    def search(limit: int, after: tuple[int, str, int] | None = None) -> list[StoredEvent]:
        query = SearchQuery(compile_pattern("ERROR"), EVERYTHING, limit, after)
        return list(run(store.search(GROUP, ["a", "b"], query)))

    found = search(2)
    assert messages(found) == ["a ERROR 1", "b ERROR 1", "a ERROR 4"]  # limit + 1
    rest = search(2, after=found[1].key)
    assert messages(rest) == ["a ERROR 4", "b ERROR 5"]
    keys = [item.key for item in found[:2] + rest]
    assert keys == sorted(set(keys))


def test_searches_keep_to_the_window_and_to_json_patterns(store: ServerLogStore) -> None:
    store.append(GROUP, "s", [(1, '{"level": "ERROR"}'), (2, "level ERROR"), (3, '{"level": "ERROR"}')])
    query = SearchQuery(compile_pattern('{ $.level = "ERROR" }'), TimeWindow(2, 3, end_inclusive=True), 10)
    found = run(store.search(GROUP, ["s"], query))
    assert [(item.event.timestamp_ms, item.event.message) for item in found] == [(3, '{"level": "ERROR"}')]


def test_retention_removes_what_is_older(store: ServerLogStore) -> None:
    store.append(GROUP, "s", [(index * 10, f"at {index * 10}") for index in range(10)])
    run(store.write_out())
    assert run(store.expire_group(GROUP, 50)) == 5  # half of the stream: worth a file's rewrite too
    page, _ = run(store.read_page(GROUP, "s", PageQuery(EVERYTHING, True, 0, 100)))
    assert messages(page.events) == [f"at {index * 10}" for index in range(5, 10)]
    assert run(store.stats_of(GROUP, ["s"]))["s"].first_event_ms == 50


def test_taps_marks_and_the_backlog(store: ServerLogStore) -> None:
    store.tap(frozenset({GROUP}))
    store.watch_for('"_aws"')
    store.append(GROUP, "s", [(1, "plain"), (2, '{"_aws": {}}')])
    store.append("/other", "s", [(3, "not tapped")])
    assert store.backlog_bytes > 0
    assert store.drain_tapped() == [(GROUP, "s", [(1, "plain"), (2, '{"_aws": {}}')])]
    assert store.drain_tapped() == []
    assert store.drain_marked() == [(2, '{"_aws": {}}')]
    run(store.write_out())
    assert store.backlog_bytes == 0


def test_the_quota_removes_the_least_recently_written_streams(store: ServerLogStore) -> None:
    for name in ("old", "middle", "new"):
        store.append(GROUP, name, [(1, "x" * 1000)])
        run(store.write_out())
    freed = run(store.enforce_quota(2500))
    assert freed > 0 and run(store.stream_names(GROUP)) == ["middle", "new"]


def test_what_was_written_is_there_after_a_restart(store: ServerLogStore, opener: Opener) -> None:
    store.append(GROUP, "s", [(1, "kept")])
    run(store.write_out())
    again = opener()
    assert [event.message for event in again.read(GROUP, "s")] == ["kept"]
    assert again.list_streams(GROUP) == ["s"]


# What only the shared tables have to get right.


def test_servers_on_one_database_read_each_others_logs_and_hear_of_group_changes(
    postgres: PostgresServer,
) -> None:
    url = postgres.new_database()
    pool = log_pool(url)
    told: list[str] = []
    one = PostgresLogStore(pool, SCOPE, lambda: told.append("one"))
    two = PostgresLogStore(pool, SCOPE)
    other_account = PostgresLogStore(pool, "210987654321/us-east-1")
    try:
        one.append(GROUP, "from-one", [(1, "ran on one")])
        run(one.write_out())
        assert told  # a group and a stream were made: the others must hear of it
        two.append(GROUP, "from-two", [(2, "ran on two")])
        query = SearchQuery(compile_pattern("ran"), EVERYTHING, 10)
        assert messages(run(one.search(GROUP, ["from-one", "from-two"], query))) == ["ran on one"]
        assert messages(run(one.search(GROUP, ["from-one", "from-two"], query))) == ["ran on one"]
        run(two.write_out())
        assert messages(run(one.search(GROUP, ["from-one", "from-two"], query))) == [
            "ran on one",
            "ran on two",
        ]
        assert other_account.list_groups() == []  # accounts and regions kept apart
        # A group's record changed by one: the other sees it once told to refresh.
        assert two.group_info(GROUP) is not None
        info = one.group_info(GROUP)
        assert info is not None
        info.retention_days = 3
        one.update_group(GROUP, info)
        run(two.refresh())
        refreshed = two.group_info(GROUP)
        assert refreshed is not None and refreshed.retention_days == 3
        # Two servers writing the same stream get distinct, ordered positions.
        one.append(GROUP, "shared", [(5, "one's")])
        two.append(GROUP, "shared", [(6, "two's")])
        run(one.write_out())
        run(two.write_out())
        page, _ = run(one.read_page(GROUP, "shared", PageQuery(EVERYTHING, True, 0, 10)))
        assert messages(page.events) == ["one's", "two's"]
        assert [item.offset for item in page.events] == [1, 2]
    finally:
        for store in (one, two, other_account):
            store.close()
        pool.close()


def test_any_message_is_kept_as_written_nul_included(store: ServerLogStore) -> None:
    """(Unpaired surrogates, which UTF-8 cannot hold, never reach a store: the Logs API replaces them.)"""
    odd = ["nul \x00 inside", "emoji 🎉 and \u2028 separator", "", 'quote " and backslash \\']
    store.append(GROUP, "s", [(index, message) for index, message in enumerate(odd)])
    run(store.write_out())
    assert [event.message for event in store.read(GROUP, "s")] == odd
    query = SearchQuery(compile_pattern('"\x00"'), EVERYTHING, 10)
    assert messages(run(store.search(GROUP, ["s"], query))) == ["nul \x00 inside"]


def test_events_the_database_refuses_are_dropped_without_holding_up_the_rest(
    postgres: PostgresServer,
) -> None:
    """Kept for the next write, they would fail every later write of the account's logs."""
    pool = log_pool(postgres.new_database())
    store = PostgresLogStore(pool, SCOPE)
    try:
        store.append(GROUP, "refused", [(2**70, "a time no bigint holds")])
        store.append(GROUP, "fine", [(1, "kept")])
        run(store.write_out())
        assert store.backlog_bytes == 0
        assert [event.message for event in store.read(GROUP, "fine")] == ["kept"]
        assert store.read(GROUP, "refused") == []
    finally:
        store.close()
        pool.close()
