"""PostgreSQL implementation of the log store (LogQueryStore, and what the server writes through):
log groups, streams and events in the database that several servers share, so a log query through
any of them answers with the lines of every invocation, wherever it ran.

Appends only buffer in memory, as the file adapter's do; `write_out` writes every buffered stream in
one transaction (concurrent callers share it: each waits for a write that began after it asked),
which is what a synchronous invocation's response and an async event's acknowledgement wait for.
A stream's events are numbered from 1 (`seq`): positions, and so paging tokens, are those numbers,
and stay good across appends and retention. Reads write out what is buffered first, then query.

Every database call blocks (psycopg's plain connections, from a pool the server's log stores
share): the async methods make theirs in a thread. The few plain methods that touch the database
are the control plane's (CreateLogGroup, PutRetentionPolicy, ...): one short statement each.
Group records are cached; `changed()` tells the other servers when this one changes one, and
`refresh()` forgets the cache when another did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import Connection
from psycopg_pool import ConnectionPool

from lamina.store.log_reader import fits_page
from lamina.store.log_taps import AppendTaps
from lamina.store.ports import (
    GroupInfo,
    InvalidLogPosition,
    LogEvent,
    Page,
    PagedEvent,
    PageQuery,
    SearchQuery,
    StoredEvent,
    StreamStats,
    TimeWindow,
)

_TABLES = """
CREATE TABLE IF NOT EXISTS log_groups (
    scope TEXT NOT NULL, name TEXT NOT NULL, info TEXT NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE TABLE IF NOT EXISTS log_streams (
    scope TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    first_event_ms BIGINT, last_event_ms BIGINT, last_ingestion_ms BIGINT,
    stored_bytes BIGINT NOT NULL DEFAULT 0,
    last_seq BIGINT NOT NULL DEFAULT 0,
    written_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, grp, name)
);
CREATE TABLE IF NOT EXISTS log_events (
    scope TEXT NOT NULL, grp TEXT NOT NULL, stream TEXT NOT NULL, seq BIGINT NOT NULL,
    ts BIGINT NOT NULL, ingested BIGINT NOT NULL, message BYTEA NOT NULL,
    PRIMARY KEY (scope, grp, stream, seq)
);
CREATE INDEX IF NOT EXISTS log_events_by_time ON log_events (scope, grp, ts);
"""
# A write's events get the stream's next numbers, and the stream's stats follow them.
_log = logging.getLogger(__name__)
# One statement (one round trip: a synchronous invocation's response waits for it); no row is
# written when the stream does not exist yet.
_APPEND_EVENTS = """
WITH numbered AS (
    UPDATE log_streams SET last_seq = last_seq + %(n)s,
        first_event_ms = LEAST(first_event_ms, %(first)s), last_event_ms = GREATEST(last_event_ms, %(last)s),
        last_ingestion_ms = GREATEST(last_ingestion_ms, %(ingested)s),
        stored_bytes = stored_bytes + %(bytes)s, written_at = %(now)s
    WHERE scope = %(scope)s AND grp = %(group)s AND name = %(stream)s
    RETURNING last_seq
)
INSERT INTO log_events (scope, grp, stream, seq, ts, ingested, message)
SELECT %(scope)s, %(group)s, %(stream)s, numbered.last_seq - %(n)s + event.position, event.ts, event.ingested,
    event.message
FROM numbered, unnest(%(timestamps)s::bigint[], %(ingestions)s::bigint[], %(messages)s::bytea[])
    WITH ORDINALITY AS event(ts, ingested, message, position)
"""
# Rows a search fetches at a time while it looks for its matches.
_SEARCH_BATCH = 2000
# The account's quota is measured (a sum over its streams) at least this often.
_MEASURE_SECONDS = 60.0

_Key = tuple[str, str]
_Chunk = tuple[int, list[tuple[int, str]]]  # ingested at, (timestamp, message) events


def log_pool(url: str) -> ConnectionPool[Connection[Any]]:
    """The connections every log store of a server shares; the tables made once."""
    pool: ConnectionPool[Connection[Any]] = ConnectionPool(
        url, min_size=0, max_size=4, open=True, kwargs={"autocommit": True}
    )
    with pool.connection() as connection:
        connection.execute("SELECT pg_advisory_lock(hashtext('lamina-logs'))")
        try:
            connection.execute(_TABLES)
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext('lamina-logs'))")
    return pool


def _in_window(window: TimeWindow, streams: str, values: list[object]) -> tuple[list[str], list[object]]:
    """WHERE clauses (and their values, after `values`: scope, group, streams) for a group's events
    in `streams` with times in `window`."""
    clauses = ["scope = %s", "grp = %s", streams, "ts >= %s"]
    values = [*values, window.start_ms]
    if window.end_ms is not None:
        clauses.append("ts <= %s" if window.end_inclusive else "ts < %s")
        values.append(window.end_ms)
    return clauses, values


def _pack(message: str) -> bytes:
    """A message as stored: its UTF-8 bytes, as a bytea, since a text column takes neither NUL nor
    the lone surrogates a JSON request may carry (\\ud800), both of which a log message may hold."""
    return message.encode("utf-8", "surrogatepass")


def _unpack(stored: bytes | memoryview) -> str:
    return bytes(stored).decode("utf-8", "surrogatepass")


def _now_ms() -> int:
    return int(time.time() * 1000)


class PostgresLogStore(AppendTaps):
    def __init__(
        self, pool: ConnectionPool[Connection[Any]], scope: str, changed: Callable[[], None] | None = None
    ) -> None:
        """`scope`: the account and region; `changed()`: this store changed a group or stream
        (other servers sharing the database should `refresh`)."""
        self._pool = pool
        self._scope = scope
        self._changed = changed or (lambda: None)
        self._pending: dict[_Key, list[_Chunk]] = {}
        self._pending_bytes = 0
        self._writing_bytes = 0
        self._write_lock = threading.Lock()
        self._write_turn = asyncio.Lock()
        self._infos: dict[str, str] = {}  # group -> its record, as last read or written here
        AppendTaps.__init__(self)  # what the server takes of appends: tapped groups, marked events
        self._measured_bytes: int | None = None
        self._measured_at = 0.0
        self._written_since_measure = 0

    @contextmanager
    def _transaction(self) -> Iterator[Connection[Any]]:
        with self._pool.connection() as connection, connection.transaction():
            yield connection

    def _rows(self, query: str, *values: object) -> list[tuple[Any, ...]]:
        with self._pool.connection() as connection:
            cursor = connection.execute(query, (self._scope, *values))
            return cursor.fetchall() if cursor.description is not None else []

    def _tell(self, changed: bool) -> bool:
        if changed:
            self._changed()
        return changed

    async def refresh(self) -> None:
        """Another server changed groups: read them from the database again when next asked."""
        self._infos.clear()

    # groups --------------------------------------------------------------------------------
    def create_group(self, group: str, tags: dict[str, str] | None = None) -> bool:
        text = GroupInfo(_now_ms(), None, dict(tags or {})).dumps()
        made = self._rows(
            "INSERT INTO log_groups (scope, name, info) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            group,
            text,
        )
        if made:
            self._infos[group] = text
        return self._tell(bool(made))

    def group_info(self, group: str) -> GroupInfo | None:
        text = self._infos.get(group)
        if text is None:
            rows = self._rows("SELECT info FROM log_groups WHERE scope = %s AND name = %s", group)
            if not rows:
                if not any(key[0] == group for key in self._pending):
                    return None
                text = self._make_group(group)
            else:
                text = str(rows[0][0])
            self._infos[group] = text
        return GroupInfo.loads(text)

    def _make_group(self, group: str) -> str:
        """A group so far only in buffered appends: made now (as its first write would)."""
        text = GroupInfo(_now_ms()).dumps()
        self._rows(
            "INSERT INTO log_groups (scope, name, info) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            group,
            text,
        )
        rows = self._rows("SELECT info FROM log_groups WHERE scope = %s AND name = %s", group)
        self._tell(True)
        return str(rows[0][0]) if rows else text

    def update_group(self, group: str, info: GroupInfo) -> None:
        text = info.dumps()
        self._rows(
            "INSERT INTO log_groups (scope, name, info) VALUES (%s, %s, %s) "
            "ON CONFLICT (scope, name) DO UPDATE SET info = excluded.info",
            group,
            text,
        )
        self._infos[group] = text
        self._tell(True)

    async def remove_group(self, group: str) -> bool:
        buffered = self._drop_buffered(lambda key: key[0] == group)
        self._infos.pop(group, None)

        def remove() -> bool:
            with self._transaction() as connection:
                values = (self._scope, group)
                connection.execute("DELETE FROM log_events WHERE scope = %s AND grp = %s", values)
                connection.execute("DELETE FROM log_streams WHERE scope = %s AND grp = %s", values)
                cursor = connection.execute("DELETE FROM log_groups WHERE scope = %s AND name = %s", values)
                return cursor.rowcount > 0

        return self._tell(await asyncio.to_thread(remove) or buffered)

    def sweep_removed(self) -> None:
        """Nothing is left half removed: a group goes in one transaction."""

    def list_groups(self) -> list[str]:
        rows = self._rows("SELECT name FROM log_groups WHERE scope = %s")
        return sorted({str(row[0]) for row in rows} | {group for group, _ in self._pending})

    async def groups(self) -> list[str]:
        return await asyncio.to_thread(self.list_groups)

    # streams -------------------------------------------------------------------------------
    def create_stream(self, group: str, stream: str) -> bool:
        if (group, stream) in self._pending:
            return False
        with self._transaction() as connection:
            self._ensure_group(connection, group)
            made = connection.execute(
                "INSERT INTO log_streams (scope, grp, name, created_ms) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING RETURNING 1",
                (self._scope, group, stream, _now_ms()),
            ).fetchall()
        return self._tell(bool(made))

    def _ensure_group(self, connection: Connection[Any], group: str) -> bool:
        """Made when missing (an environment's first write makes its group); whether it was."""
        made = connection.execute(
            "INSERT INTO log_groups (scope, name, info) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            (self._scope, group, GroupInfo(_now_ms()).dumps()),
        ).fetchall()
        return bool(made)

    def has_stream(self, group: str, stream: str) -> bool:
        if (group, stream) in self._pending:
            return True
        return bool(
            self._rows("SELECT 1 FROM log_streams WHERE scope = %s AND grp = %s AND name = %s", group, stream)
        )

    async def remove_stream(self, group: str, stream: str) -> bool:
        buffered = self._drop_buffered(lambda key: key == (group, stream))

        def remove() -> bool:
            with self._transaction() as connection:
                values = (self._scope, group, stream)
                connection.execute(
                    "DELETE FROM log_events WHERE scope = %s AND grp = %s AND stream = %s", values
                )
                cursor = connection.execute(
                    "DELETE FROM log_streams WHERE scope = %s AND grp = %s AND name = %s", values
                )
                return cursor.rowcount > 0

        return self._tell(await asyncio.to_thread(remove) or buffered)

    def list_streams(self, group: str) -> list[str]:
        """Oldest written first (`lamina logs`)."""
        self.flush()
        rows = self._rows(
            "SELECT name FROM log_streams WHERE scope = %s AND grp = %s ORDER BY written_at, name", group
        )
        return [str(row[0]) for row in rows]

    async def stream_names(self, group: str) -> list[str]:
        await self.write_out()
        rows = await asyncio.to_thread(
            self._rows, "SELECT name FROM log_streams WHERE scope = %s AND grp = %s", group
        )
        return sorted(str(row[0]) for row in rows)

    async def stats_of(self, group: str, streams: Sequence[str]) -> dict[str, StreamStats]:
        await self.write_out()
        rows = await asyncio.to_thread(
            self._rows,
            "SELECT name, created_ms, first_event_ms, last_event_ms, last_ingestion_ms, stored_bytes "
            "FROM log_streams WHERE scope = %s AND grp = %s AND name = ANY(%s)",
            group,
            list(streams),
        )
        return {str(row[0]): StreamStats(*row[1:]) for row in rows}

    # writing -------------------------------------------------------------------------------
    def append(self, group: str, stream: str, events: Sequence[tuple[int, str]], ingested: int = 0) -> None:
        if not events:
            return
        batch = [(int(timestamp), message) for timestamp, message in events]
        self._pending.setdefault((group, stream), []).append((ingested or _now_ms(), batch))
        self._pending_bytes += sum(len(message) for _, message in batch)
        self.saw(group, stream, events)

    @property
    def backlog_bytes(self) -> int:
        """Characters appended and not yet written."""
        return self._pending_bytes + self._writing_bytes

    def _drop_buffered(self, doomed: Callable[[_Key], bool]) -> bool:
        keys = [key for key in self._pending if doomed(key)]
        for key in keys:
            chunks = self._pending.pop(key)
            self._pending_bytes -= sum(len(message) for _, events in chunks for _, message in events)
        return bool(keys)

    async def write_out(self) -> None:
        """Write what is buffered (raises OSError when the database could not take it: the events
        stay buffered for the next write). Callers meanwhile wait, then share the next write."""
        async with self._write_turn:
            taken = self._take()
            if taken:
                try:
                    made = await asyncio.to_thread(self._write, taken)
                except OSError:
                    self._give_back(taken)
                    raise
                self._tell(made)

    def flush(self) -> None:
        taken = self._take()
        if taken:
            try:
                made = self._write(taken)
            except OSError:
                self._give_back(taken)
                raise
            self._tell(made)

    def _take(self) -> dict[_Key, list[_Chunk]]:
        """What is buffered, now being written (taken on the caller's thread, where appends land)."""
        taken, self._pending = self._pending, {}
        self._writing_bytes, self._pending_bytes = self._pending_bytes, 0
        return taken

    def _give_back(self, taken: dict[_Key, list[_Chunk]]) -> None:
        """A write that failed: its events go back before what was appended meanwhile (on the
        caller's thread, as `_take`)."""
        for key, chunks in taken.items():
            self._pending[key] = chunks + self._pending.get(key, [])
        self._pending_bytes += self._writing_bytes
        self._writing_bytes = 0

    def _write(self, taken: dict[_Key, list[_Chunk]]) -> bool:
        """One transaction for every stream taken; whether a group or stream was made. Raises
        OSError when the database could not take it (unreachable, say): all of it is kept. Events
        the database refuses as such are dropped, stream by stream, with an error in the server's
        log: kept, they would fail every later write of their account's logs."""
        try:
            with self._write_lock:  # one write at a time, in the order taken
                try:
                    made = self._write_streams(taken)
                except psycopg.DataError:
                    made = self._write_each(taken)
        except Exception as error:
            raise OSError(f"writing log events to the database failed: {error}") from error
        self._writing_bytes = 0
        return made

    def _write_each(self, taken: dict[_Key, list[_Chunk]]) -> bool:
        made = False
        for key, chunks in sorted(taken.items()):
            try:
                made |= self._write_streams({key: chunks})
            except psycopg.DataError:
                _log.error("log events of %s %s refused by the database, dropped", *key, exc_info=True)
        return made

    def _write_streams(self, taken: dict[_Key, list[_Chunk]]) -> bool:
        made = False
        now = time.time()
        streams = sorted(taken.items())  # one lock order for every writer
        # One stream (a synchronous invocation's, most often): one statement, no transaction.
        with (
            self._pool.connection() as connection,
            connection.transaction() if len(streams) > 1 else contextlib.nullcontext(),
        ):
            for (group, stream), chunks in streams:
                rows = [
                    (ts, ingested, _pack(message)) for ingested, events in chunks for ts, message in events
                ]
                values = {
                    "n": len(rows),
                    "first": min(row[0] for row in rows),
                    "last": max(row[0] for row in rows),
                    "ingested": max(row[1] for row in rows),
                    "bytes": sum(len(row[2]) for row in rows),
                    "now": now,
                    "scope": self._scope,
                    "group": group,
                    "stream": stream,
                    "timestamps": [row[0] for row in rows],
                    "ingestions": [row[1] for row in rows],
                    "messages": [row[2] for row in rows],
                }
                if connection.execute(_APPEND_EVENTS, values).rowcount == 0:
                    # A new stream (or one another server removed): made, then written.
                    with connection.transaction():
                        self._ensure_group(connection, group)
                        connection.execute(
                            "INSERT INTO log_streams (scope, grp, name, created_ms) VALUES (%s, %s, %s, %s) "
                            "ON CONFLICT DO NOTHING",
                            (self._scope, group, stream, _now_ms()),
                        )
                        connection.execute(_APPEND_EVENTS, values)
                    made = True
        self._written_since_measure += sum(
            len(message) for chunks in taken.values() for _, events in chunks for _, message in events
        )
        return made

    # reading -------------------------------------------------------------------------------
    async def read_page(self, group: str, stream: str, query: PageQuery) -> tuple[Page, int] | None:
        await self.write_out()
        return await asyncio.to_thread(self._read_page, group, stream, query)

    def _read_page(self, group: str, stream: str, query: PageQuery) -> tuple[Page, int] | None:
        with self._transaction() as connection:
            bounds = connection.execute(
                "SELECT s.last_seq, (SELECT min(seq) FROM log_events e "
                "WHERE e.scope = s.scope AND e.grp = s.grp AND e.stream = s.name) "
                "FROM log_streams s WHERE s.scope = %s AND s.grp = %s AND s.name = %s",
                (self._scope, group, stream),
            ).fetchone()
            if bounds is None:
                return None
            end = int(bounds[0]) + 1
            start = int(bounds[1]) if bounds[1] is not None else end
            if query.position is not None and query.position < 0:
                raise InvalidLogPosition(query.position)
            origin = end if query.position is None else min(max(query.position, start), end)
            clauses, values = _in_window(query.window, "stream = %s", [self._scope, group, stream])
            clauses.append("seq >= %s" if query.forward else "seq < %s")
            values.append(origin)
            order = "seq" if query.forward else "seq DESC"
            cursor = connection.execute(
                f"SELECT seq, ts, message, ingested FROM log_events WHERE {' AND '.join(clauses)} "
                f"ORDER BY {order} LIMIT %s",
                (*values, query.limit),
            )
            events: list[PagedEvent] = []
            used = 0
            cut = False
            for seq, ts, message, ingested in cursor:
                event = LogEvent(int(ts), _unpack(message), int(ingested))
                fits, total = fits_page(used, event)
                if not fits and events:
                    cut = True
                    break
                events.append(PagedEvent(int(seq), int(seq) + 1, event))
                used = total
        full = cut or len(events) >= query.limit
        if query.forward:
            return Page(events, events[-1].end if full else end), origin
        events.reverse()
        return Page(events, events[0].offset if full else min(start, origin)), origin

    async def search(self, group: str, streams: Sequence[str], query: SearchQuery) -> list[StoredEvent]:
        await self.write_out()
        return await asyncio.to_thread(self._search, group, list(streams), query)

    def _search(self, group: str, streams: list[str], query: SearchQuery) -> list[StoredEvent]:
        clauses, values = _in_window(query.window, "stream = ANY(%s)", [self._scope, group, streams])
        if query.after is not None:
            clauses.append('(ts, stream COLLATE "C", seq) > (%s, %s COLLATE "C", %s)')
            values.extend(query.after)
        for term in query.pattern.required:  # a cheap pre-check, as the file adapter's needles
            clauses.append("position(%s::bytea in message) > 0")
            values.append(_pack(term))
        found: list[StoredEvent] = []
        # A server-side cursor: rows are read only as far as the matches need.
        with self._transaction() as connection, connection.cursor(name="lamina_log_search") as cursor:
            cursor.itersize = _SEARCH_BATCH
            cursor.execute(
                f"SELECT stream, seq, ts, message, ingested FROM log_events WHERE {' AND '.join(clauses)} "
                'ORDER BY ts, stream COLLATE "C", seq',
                values,
            )
            for stream, seq, ts, packed, ingested in cursor:
                message = _unpack(packed)
                if query.pattern.matches(message):
                    found.append(
                        StoredEvent(str(stream), int(seq), LogEvent(int(ts), message, int(ingested)))
                    )
                    if len(found) > query.limit:
                        break
        return found

    def read(self, group: str, stream: str, *, start_index: int = 0) -> list[LogEvent]:
        """A stream's events in the order written; `start_index` skips that many (`lamina logs`)."""
        self.flush()
        rows = self._rows(
            "SELECT ts, message, ingested FROM log_events WHERE scope = %s AND grp = %s AND stream = %s "
            "ORDER BY seq OFFSET %s",
            group,
            stream,
            start_index,
        )
        return [LogEvent(int(ts), _unpack(message), int(ingested)) for ts, message, ingested in rows]

    # retention and quota -------------------------------------------------------------------
    async def expire_group(self, group: str, before_ms: int) -> int:
        def expire() -> int:
            with self._transaction() as connection:
                cursor = connection.execute(
                    "DELETE FROM log_events WHERE scope = %s AND grp = %s AND ts < %s RETURNING stream",
                    (self._scope, group, before_ms),
                )
                streams = sorted({str(row[0]) for row in cursor.fetchall()})
                removed = cursor.rowcount
                connection.execute(
                    "UPDATE log_streams s SET first_event_ms = (SELECT min(ts) FROM log_events e "
                    "WHERE e.scope = s.scope AND e.grp = s.grp AND e.stream = s.name) "
                    "WHERE scope = %s AND grp = %s AND name = ANY(%s)",
                    (self._scope, group, streams),
                )
                return max(removed, 0)

        return await asyncio.to_thread(expire)

    async def enforce_quota(self, quota_bytes: int) -> int:
        """The account's quota: when its streams hold more than `quota_bytes`, the least recently
        written streams go (as DeleteLogStream). Measured only when the estimate passes the quota
        or once a minute. Returns the bytes freed."""
        now = time.monotonic()
        estimate = (self._measured_bytes or 0) + self._written_since_measure
        fresh = self._measured_bytes is not None and now - self._measured_at < _MEASURE_SECONDS
        if fresh and estimate <= quota_bytes:
            return 0
        rows = await asyncio.to_thread(
            self._rows,
            "SELECT grp, name, stored_bytes FROM log_streams WHERE scope = %s ORDER BY written_at, grp, name",
        )
        self._measured_at, self._written_since_measure = now, 0
        total = sum(int(row[2]) for row in rows)
        freed = 0
        for group, stream, size in rows:
            if total - freed <= quota_bytes:
                break
            if await self.remove_stream(str(group), str(stream)):
                freed += int(size)
        self._measured_bytes = total - freed
        return freed

    def close(self) -> None:
        """Whatever is still buffered is written (the pool is the server's to close)."""
        self.flush()
