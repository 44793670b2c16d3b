"""Log events on local disk: one JSON-lines file per stream, one folder per group.

Appends only format and buffer in memory; `write_out()` writes each stream's buffer through an open
append handle, in a thread when there is much to write (a flood of lines must not hold the event
loop; a few lines are written at once, which costs less than the hop). The server calls it a few
times a second and before anything it acknowledges depends on the lines: a synchronous invocation's
response, an asynchronous event's removal from the queue (see docs/architecture.md, "Durability");
`flush()` does the same on the calling thread (shutdown, the rare reads that need files current).
Handles and stream files belong to whoever holds `_files`: the writing thread, or the event loop
for as long as one batch takes to write. `backlog_bytes` says how much waits (log_budget drops a
function's lines while it is too much). A write reaches the OS's page
cache, which a killed server process cannot lose; there is no fsync, so a power cut can. Between
those flushes, a server with more busy streams than open handles (1,000 warm environments, one
stream each) reopens files. Reads are for the CLI and the Logs API, not the hot path.

A group folder holds `.group.json` (creation time, retention, tags); a stream file starts with a
`{"c": created}` record.

The Logs API reads through the async methods of its port (store/ports.py, `LogQueryStore`): files
are read, listed and removed in threads, and nothing is flushed to be read (events still buffered
are read from memory, see `read_streams`); see log_queries for pages and searches, log_reader for
reading stream bytes and log_retention for expiry.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from io import TextIOWrapper
from pathlib import Path
from typing import TypeVar

from lamina.store.log_index import TimeIndex, index_more
from lamina.store.log_names import (
    GROUP_NAME_FILE,
    file_name,
    group_name,
    is_digest,
    remember_name,
    stream_name,
    stream_name_file,
)
from lamina.store.log_queries import read_page, scan_source, search
from lamina.store.log_quota import plan_quota, stream_files
from lamina.store.log_reader import StreamBytes, summarize
from lamina.store.log_retention import MIN_CUT_FRACTION, ExpiryPlan, finish_expiry, plan_expiry, plan_trim
from lamina.store.log_taps import AppendTaps
from lamina.store.ports import GroupInfo, LogEvent, Page, PageQuery, SearchQuery, StoredEvent, StreamStats

_Result = TypeVar("_Result")

_MAX_OPEN_STREAMS = 256
# A stream not written for this long gives its file handle back: each environment writes a stream of
# its own, so a server whose environments come and go would otherwise hold _MAX_OPEN_STREAMS files.
_IDLE_HANDLE_SECONDS = 10.0
_GROUP_FILE = ".group.json"
_encode_string = json.encoder.encode_basestring
# A batch at most this large (characters) is written on the event loop: a page-cache write of a few
# KB costs less than a hop to a thread, and a synchronous invocation's response waits for it.
_INLINE_WRITE_CHARS = 64 * 1024

# The disk quota's estimate is checked against a walk of the folder at least this often.
_MEASURE_SECONDS = 60.0

_Key = tuple[str, str]


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as existing:
        existing.seek(-1, 2)
        return existing.read(1) == b"\n"


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True, eq=False)
class _Batch:
    """Streams' buffered chunks taken for one write; `written` once it was (by whoever got there
    first: the writing thread or a flush on the loop), `failed` what could not be."""

    chunks: dict[_Key, list[str]]
    size: int
    written: bool = False
    failed: dict[_Key, list[str]] = field(default_factory=dict)
    error: OSError | None = None


def _record_line(timestamp: int, message: str, ingested: int) -> str:
    # The same JSON as json.dumps({"t", "m", "i"}), built with the C string encoder: this runs for
    # every line of every invocation.
    return f'{{"t": {int(timestamp)}, "m": {_encode_string(message)}, "i": {ingested}}}\n'


def _parse_line(line: str) -> LogEvent | None:
    try:
        record = json.loads(line)
        return LogEvent(record["t"], record["m"], record["i"])
    except (ValueError, KeyError, TypeError):
        return None  # a stream's creation record, or a torn last line after a crash


class FileLogStore(AppendTaps):
    def __init__(self, root: Path) -> None:
        self._root = root
        self._handles: OrderedDict[tuple[str, str], TextIOWrapper] = OrderedDict()  # least recent first
        self._handle_used: dict[tuple[str, str], float] = {}  # monotonic time of each handle's last write
        self._next_idle_sweep = 0.0
        self._pending: dict[tuple[str, str], list[str]] = {}  # formatted, not yet written
        self._pending_chars = 0
        self._writing: _Batch | None = None  # taken from _pending, being written in a thread
        self._write_task: asyncio.Task[None] | None = None
        self._files = threading.RLock()  # handles and stream files (see the module's docstring)
        # The disk quota's estimate: stream bytes at the last measure, plus bytes written since.
        self._measured_bytes: int | None = None
        self._measured_at = 0.0
        self._written_since_scan = 0  # under `_files`
        self._stats: dict[tuple[str, str], StreamStats] = {}  # loaded on first describe
        self._indexes: dict[tuple[str, str], TimeIndex] = {}  # built by the first time-bounded read
        self._group_texts: dict[str, str] = {}  # each group's `.group.json`, once read or written
        self._removals: set[asyncio.Task[None]] = set()  # deleted groups' folders being removed
        AppendTaps.__init__(self)  # what the server takes of appends: tapped groups, marked events
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    # paths ---------------------------------------------------------------------------------
    def _group_dir(self, group: str) -> Path:
        return self._root / file_name(group)

    def _stream_path(self, group: str, stream: str) -> Path:
        return self._group_dir(group) / f"{file_name(stream)}.jsonl"

    # groups --------------------------------------------------------------------------------
    def create_group(self, group: str, tags: dict[str, str] | None = None) -> bool:
        """False when it exists already."""
        directory = self._group_dir(group)
        if directory.exists():
            return False
        directory.mkdir(parents=True, exist_ok=True)
        self._write_group_info(group, GroupInfo(_now_ms(), None, dict(tags or {})))
        return True

    def _write_group_info(self, group: str, info: GroupInfo) -> None:
        directory = self._group_dir(group)
        if is_digest(directory.name):
            remember_name(directory / GROUP_NAME_FILE, group)
        path = directory / _GROUP_FILE
        temporary = path.with_suffix(".tmp")
        text = info.dumps()
        temporary.write_text(text)
        os.replace(temporary, path)
        self._group_texts[group] = text

    def group_info(self, group: str) -> GroupInfo | None:
        """Read from disk once, then from memory (the Logs API asks on every request)."""
        text = self._group_texts.get(group)
        if text is not None:
            return GroupInfo.loads(text)
        directory = self._group_dir(group)
        if not directory.is_dir():
            if any(key[0] == group for key in self._buffered_keys()):
                self.flush()
            if not directory.is_dir():
                return None
        try:
            text = (directory / _GROUP_FILE).read_text()
            info = GroupInfo.loads(text)
            self._group_texts[group] = text
            return info
        except (FileNotFoundError, ValueError, KeyError):
            # Made by an environment's first write (or before groups had records).
            info = GroupInfo(int(directory.stat().st_mtime * 1000))
            self._write_group_info(group, info)
            return info

    def update_group(self, group: str, info: GroupInfo) -> None:
        self._write_group_info(group, info)

    def delete_group(self, group: str) -> bool:
        directory = self._group_dir(group)
        self._forget_group(group)
        if not directory.is_dir():
            return False
        shutil.rmtree(directory)
        return True

    def _forget_group(self, group: str) -> None:
        """Drop what memory holds of a group being deleted: buffered events, handles, stats."""
        self._group_texts.pop(group, None)
        with self._files:
            for key in [
                key
                for key in (*self._buffered_keys(), *self._handles, *self._stats, *self._indexes)
                if key[0] == group
            ]:
                self._drop_buffered(key)
                self._stats.pop(key, None)
                self._indexes.pop(key, None)
                self._close_handle(key)

    async def remove_group(self, group: str) -> bool:
        """DeleteLogGroup off the event loop: the folder is renamed away in a thread, so the name is
        free at once, and removed in the background (a large group's files take a while). False
        when there was no such group, on disk or in buffered appends."""
        buffered = any(key[0] == group for key in self._buffered_keys())
        self._forget_group(group)
        doomed = self._root / f".deleted-{uuid.uuid4().hex}"
        moved = await asyncio.to_thread(_rename_folder, self._group_dir(group), doomed)
        if moved:
            removal = asyncio.get_running_loop().create_task(asyncio.to_thread(shutil.rmtree, doomed, True))
            self._removals.add(removal)
            removal.add_done_callback(self._removals.discard)
        return moved or buffered

    def sweep_removed(self) -> None:
        """Blocking: remove deleted groups' folders that a stopped server left behind."""
        for entry in os.scandir(self._root):
            if entry.name.startswith(".deleted-"):
                shutil.rmtree(entry.path, ignore_errors=True)

    def list_groups(self) -> list[str]:
        """Groups on disk and those so far only in buffered appends; nothing is flushed."""
        return sorted(set(self._group_names_on_disk()) | {group for group, _ in self._buffered_keys()})

    async def groups(self) -> list[str]:
        """`list_groups`, with the folder listed in a thread."""
        on_disk = await asyncio.to_thread(self._group_names_on_disk)
        return sorted(set(on_disk) | {group for group, _ in self._buffered_keys()})

    def _group_names_on_disk(self) -> list[str]:
        try:
            entries = list(os.scandir(self._root))
        except FileNotFoundError:
            return []
        # Encoded names never start with "." (dots are escaped): those are folders being removed.
        names = (
            group_name(self._root, entry.name)
            for entry in entries
            if entry.is_dir() and not entry.name.startswith(".")
        )
        return [name for name in names if name is not None]

    # streams -------------------------------------------------------------------------------
    def create_stream(self, group: str, stream: str) -> bool:
        """False when it exists already."""
        path = self._stream_path(group, stream)
        if path.exists() or (group, stream) in self._buffered_keys():
            return False
        with self._files:
            self._handle(group, stream)
        return True

    def has_stream(self, group: str, stream: str) -> bool:
        return (group, stream) in self._buffered_keys() or self._stream_path(group, stream).exists()

    def delete_stream(self, group: str, stream: str) -> bool:
        key = (group, stream)
        existed = self.has_stream(group, stream)
        self._stats.pop(key, None)
        self._indexes.pop(key, None)
        with self._files:
            self._drop_buffered(key)
            self._close_handle(key)
        path = self._stream_path(group, stream)
        path.unlink(missing_ok=True)
        stream_name_file(path.parent, path.name.removesuffix(".jsonl")).unlink(missing_ok=True)
        return existed

    async def remove_stream(self, group: str, stream: str) -> bool:
        """DeleteLogStream with the file unlinked in a thread."""
        key = (group, stream)
        existed = (group, stream) in self._buffered_keys()
        self._stats.pop(key, None)
        self._indexes.pop(key, None)
        with self._files:
            self._drop_buffered(key)
            self._close_handle(key)
        path = self._stream_path(group, stream)
        sidecar = stream_name_file(path.parent, path.name.removesuffix(".jsonl"))
        removed = await asyncio.to_thread(_unlink, path)
        await asyncio.to_thread(_unlink, sidecar)
        return removed or existed

    def list_streams(self, group: str) -> list[str]:
        """Oldest written first; streams so far only in buffered appends last (nothing is flushed)."""
        directory = self._group_dir(group)
        files = sorted(directory.glob("*.jsonl"), key=lambda path: path.stat().st_mtime)
        names = (stream_name(directory, path.name.removesuffix(".jsonl")) for path in files)
        on_disk = [name for name in names if name is not None]
        known = set(on_disk)
        return on_disk + [name for key, name in self._buffered_keys() if key == group and name not in known]

    async def stream_names(self, group: str) -> list[str]:
        """The group's streams by name, the folder listed in a thread (names only, no file read or
        stat), with those so far only in buffered appends."""
        on_disk = await asyncio.to_thread(_stream_names_in, self._group_dir(group))
        return sorted(set(on_disk) | {name for key, name in self._buffered_keys() if key == group})

    def stream_stats(self, group: str, stream: str) -> StreamStats | None:
        """Blocking: writes the stream's buffered events and reads its file on first call (the Logs
        API uses `stats_of`)."""
        key = (group, stream)
        self._flush_stream(group, stream)
        stats = self._stats.get(key)
        if stats is None:
            stats = _load_stats(self._stream_path(group, stream))
            if stats is not None:
                self._stats[key] = stats
        return stats

    async def stats_of(self, group: str, streams: Sequence[str]) -> dict[str, StreamStats]:
        """Stats of those of `streams` that exist. A stream's file is read once (its first and last
        blocks, in a thread) and its stats then follow appends in memory; nothing is flushed, events
        still buffered are counted from memory. Like AWS's, they may lag a moment behind."""
        missing = [stream for stream in streams if (group, stream) not in self._stats]
        if missing:
            paths = [self._stream_path(group, stream) for stream in missing]
            loaded = await asyncio.to_thread(lambda: [_load_stats(path) for path in paths])
            for stream, stats in zip(missing, loaded, strict=True):
                key = (group, stream)
                chunks = self._pending.get(key)
                if stats is None and self._writing is not None and key in self._writing.chunks:
                    chunks = self._writing.chunks[key] + (chunks or [])
                if key in self._stats or (stats is None and chunks is None):
                    continue
                stats = stats or StreamStats(_now_ms())
                for chunk in chunks or ():
                    for line in chunk.split("\n"):
                        event = _parse_line(line) if line else None
                        if event is not None:
                            stats.add(
                                event.timestamp_ms, event.ingestion_time_ms, len(event.message.encode())
                            )
                self._stats[key] = stats
        return {stream: self._stats[(group, stream)] for stream in streams if (group, stream) in self._stats}

    # writing -------------------------------------------------------------------------------
    def _handle(self, group: str, stream: str) -> TextIOWrapper:
        key = (group, stream)
        handle = self._handles.get(key)
        if handle is not None:
            self._handles.move_to_end(key)
            self._handle_used[key] = time.monotonic()
            return handle
        path = self._stream_path(group, stream)
        if not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write_group_info(group, GroupInfo(_now_ms()))
        handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across appends, closed on eviction
        if handle.tell() == 0:
            handle.write(f'{{"c": {_now_ms()}}}\n')
            handle.flush()
            stem = path.name.removesuffix(".jsonl")
            if is_digest(stem):
                remember_name(stream_name_file(path.parent, stem), stream)
        elif not _ends_with_newline(path):
            handle.write("\n")  # a torn record from a crash must not swallow the next one
        self._handles[key] = handle
        self._handle_used[key] = time.monotonic()
        while len(self._handles) > _MAX_OPEN_STREAMS:
            self._close_handle(next(iter(self._handles)))
        return handle

    def _close_handle(self, key: tuple[str, str]) -> None:
        handle = self._handles.pop(key, None)
        self._handle_used.pop(key, None)
        if handle is not None:
            handle.close()

    def _close_idle_handles(self) -> None:
        """Give back the files of streams not written for a while (at most once a second)."""
        now = time.monotonic()
        if now < self._next_idle_sweep:
            return
        self._next_idle_sweep = now + 1.0
        while self._handles:
            key = next(iter(self._handles))  # the least recently written
            if now - self._handle_used.get(key, 0.0) < _IDLE_HANDLE_SECONDS:
                return
            self._close_handle(key)

    def append(self, group: str, stream: str, events: Sequence[tuple[int, str]], ingested: int = 0) -> None:
        if not events:
            return
        ingested = ingested or _now_ms()
        text = "".join(_record_line(timestamp, message, ingested) for timestamp, message in events)
        key = (group, stream)
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = [text]
        else:
            pending.append(text)
        self._pending_chars += len(text)
        stats = self._stats.get(key)
        if stats is not None:
            for timestamp, message in events:
                stats.add(int(timestamp), ingested, len(message.encode()))
        self.saw(group, stream, events)

    @property
    def backlog_bytes(self) -> int:
        """Characters appended and not yet written (about as many bytes: log lines are mostly ASCII)."""
        writing = self._writing
        return self._pending_chars + (writing.size if writing is not None and not writing.written else 0)

    def _buffered_keys(self) -> list[_Key]:
        """Streams with events not yet (known to be) in their files."""
        writing = self._writing
        return [*self._pending, *(writing.chunks if writing is not None else ())]

    def _take_pending(self) -> _Batch:
        batch = _Batch(self._pending, self._pending_chars)
        self._pending, self._pending_chars = {}, 0
        return batch

    def _drop_buffered(self, key: _Key) -> None:
        """Forget a deleted stream's unwritten events (the caller holds `_files`)."""
        chunks = self._pending.pop(key, None)
        if chunks:
            self._pending_chars -= sum(map(len, chunks))
        if self._writing is not None and not self._writing.written:
            self._writing.chunks.pop(key, None)

    def _write(self, batch: _Batch) -> None:
        """Write `batch` unless it was; the caller holds `_files`."""
        if batch.written:
            return
        for (group, stream), chunks in batch.chunks.items():
            try:
                handle = self._handle(group, stream)
                text = "".join(chunks)
                handle.write(text)
                handle.flush()
                self._written_since_scan += _utf8_length(text)
            except OSError as error:  # kept for the next write; the other streams still go out
                batch.failed[(group, stream)] = chunks
                batch.error = error
        self._close_idle_handles()
        batch.written = True

    def _write_holding_files(self, batch: _Batch) -> None:
        with self._files:
            self._write(batch)

    def _requeue_failed(self, batch: _Batch) -> None:
        """On the loop: what a batch could not write goes back in front of what came since."""
        failed, batch.failed = batch.failed, {}
        for key, chunks in failed.items():
            self._pending[key] = chunks + self._pending.get(key, [])
            self._pending_chars += sum(map(len, chunks))

    def flush(self) -> None:
        """Blocking: write buffered events to the OS on this thread (after the batch a thread may be
        writing); a crash loses at most what came since the last call."""
        with self._files:
            if self._writing is not None:
                self._write(self._writing)  # older lines first
            batch = self._take_pending()
            self._write(batch)
        self._requeue_failed(batch)
        if batch.error is not None:
            raise batch.error

    async def write_out(self) -> None:
        """Write every event appended before the call: a large backlog in a thread, one write at a
        time. Raises OSError when some could not be written (they stay buffered for the next)."""
        while self._write_task is not None:
            await asyncio.shield(self._write_task)
        if not self._pending:
            return
        if self._pending_chars <= _INLINE_WRITE_CHARS:
            self.flush()
            return
        batch = self._writing = self._take_pending()
        task = self._write_task = asyncio.get_running_loop().create_task(self._write_in_thread(batch))
        await asyncio.shield(task)
        if batch.error is not None:
            raise batch.error

    async def _write_in_thread(self, batch: _Batch) -> None:
        try:
            await asyncio.to_thread(self._write_holding_files, batch)
        finally:
            self._requeue_failed(batch)
            if self._writing is batch:
                self._writing = None
            self._write_task = None

    async def _settle_writes(self, group: str, streams: Sequence[str]) -> None:
        """Wait until no batch being written holds any of these streams' events."""
        while (
            self._write_task is not None
            and self._writing is not None
            and any((group, stream) in self._writing.chunks for stream in streams)
        ):
            await asyncio.shield(self._write_task)

    def _flush_stream(self, group: str, stream: str) -> None:
        with self._files:
            if self._writing is not None:
                self._write(self._writing)  # older lines first
            chunks = self._pending.pop((group, stream), None)
            if chunks:
                self._pending_chars -= sum(map(len, chunks))
                handle = self._handle(group, stream)
                text = "".join(chunks)
                handle.write(text)
                handle.flush()
                self._written_since_scan += _utf8_length(text)

    # reading -------------------------------------------------------------------------------
    async def read_streams(
        self, group: str, streams: Sequence[str], use: Callable[[Callable[[str], StreamBytes]], _Result]
    ) -> _Result:
        """Run `use` in a thread. It opens the streams it reads through the function it is given
        (closing each): a stream is its file as it is when opened, followed by the events that were
        still buffered when this was called, captured here on the event loop.

        A flush of those events while `use` runs would put them in both places (flushes replace a
        stream's buffer, never empty it in place, which is what is checked). Then `use` runs once
        more after these streams' buffers are written out, so that it reads files alone: a busy
        server flushes often, and a long search must not be overtaken again and again."""
        result, settled = await self._read_once(group, streams, use)
        if settled:
            return result
        for stream in streams:
            self._flush_stream(group, stream)
        result, _ = await self._read_once(group, streams, use)
        return result

    async def _read_once(
        self, group: str, streams: Sequence[str], use: Callable[[Callable[[str], StreamBytes]], _Result]
    ) -> tuple[_Result, bool]:
        """`use`'s result, and whether no captured buffer was flushed while it ran."""
        await self._settle_writes(group, streams)
        captured: dict[str, tuple[list[str] | None, bytes]] = {}
        for stream in streams:
            chunks = self._pending.get((group, stream))
            captured[stream] = (chunks, "".join(chunks).encode() if chunks else b"")
        buffered = {stream: data for stream, (_, data) in captured.items()}
        result = await asyncio.to_thread(use, self._stream_opener(group, buffered))
        settled = all(
            self._pending.get((group, stream)) is chunks
            for stream, (chunks, _) in captured.items()
            if chunks is not None
        )
        return result, settled

    def _stream_opener(self, group: str, buffered: dict[str, bytes]) -> Callable[[str], StreamBytes]:
        def open_stream(stream: str) -> StreamBytes:
            return StreamBytes.current(self._stream_path(group, stream), buffered.get(stream, b""))

        return open_stream

    async def read_page(self, group: str, stream: str, query: PageQuery) -> tuple[Page, int] | None:
        """See LogQueryStore.read_page: positions are byte offsets, and a stream's time index (see
        log_index) is brought up to date first when asked for."""
        index = (await self.time_indexes(group, [stream]))[stream] if query.use_time_index else None
        return await self.read_streams(
            group, [stream], lambda open_stream: read_page(open_stream(stream), query, index)
        )

    async def search(self, group: str, streams: Sequence[str], query: SearchQuery) -> list[StoredEvent]:
        """See LogQueryStore.search. The files are read off the event loop, so a long search does not
        stall invocations for its whole length; events not yet flushed are searched in memory."""
        indexes = await self.time_indexes(group, streams) if query.use_time_index else None
        return await self.read_streams(
            group, streams, lambda open_stream: search(open_stream, streams, query, indexes)
        )

    def read(self, group: str, stream: str, *, start_index: int = 0) -> list[LogEvent]:
        """A stream's events in the order written; `start_index` skips that many."""
        path = self._stream_path(group, stream)
        self._flush_stream(group, stream)
        try:
            # Split on "\n" only: messages may hold U+2028 and friends, which splitlines() breaks on.
            lines = path.read_text(encoding="utf-8").split("\n")
        except FileNotFoundError:
            return []
        events = [event for line in lines if line and (event := _parse_line(line)) is not None]
        return events[start_index:]

    def scan(
        self,
        group: str,
        stream: str,
        needles: Sequence[bytes] = (),
        *,
        json_messages: bool = False,
        flush: bool = True,
    ) -> Iterator[StoredEvent]:
        """A stream's events in the order written, skipping (without decoding) lines that lack any
        of `needles` (see log_queries.needle_of), and with `json_messages` those whose message does
        not start like a JSON object. With `flush` False it only reads files, so another thread may
        run it (the caller flushed first)."""
        if flush:
            self._flush_stream(group, stream)
        with StreamBytes.current(self._stream_path(group, stream)) as source:
            yield from scan_source(source, stream, needles, json_messages=json_messages)

    def expire(self, group: str, before_ms: int) -> int:
        """Blocking: delete the events older than `before_ms` at the front of each of the group's
        streams (retention; see log_retention); returns how many. The server sweeps with
        `expire_group`."""
        removed = 0
        for stream in self.list_streams(group):
            self._flush_stream(group, stream)
            plan = plan_expiry(self._stream_path(group, stream), before_ms, min_fraction=0.0)
            if plan is not None:
                removed += self.commit_expiry(group, stream, plan)
        return removed

    async def expire_group(self, group: str, before_ms: int, min_fraction: float = MIN_CUT_FRACTION) -> int:
        """The retention sweep for one group: each stream is read, and rewritten only when at least
        `min_fraction` of it has expired, in a thread; the rewrite is swapped in on the loop."""
        removed = 0
        for stream in await self.stream_names(group):
            stats = self._stats.get((group, stream))
            if stats is not None and stats.first_event_ms is not None and stats.first_event_ms >= before_ms:
                continue
            path = self._stream_path(group, stream)
            plan = await asyncio.to_thread(plan_expiry, path, before_ms, min_fraction)
            if plan is not None:
                removed += self.commit_expiry(group, stream, plan)
        return removed

    async def enforce_quota(self, quota_bytes: int) -> int:
        """The account's disk quota (see log_quota): when its stream files take more than
        `quota_bytes`, the least recently written streams are deleted and the oldest events of the
        next one cut, through the same paths as DeleteLogStream and retention. Returns the bytes
        freed.

        The folder is walked only when the estimate (the last walk's total plus what was written
        since) passes the quota, or once every `_MEASURE_SECONDS` (deletions by other paths, files
        changed outside the server): a quiet check costs nothing however many streams there are."""
        now = time.monotonic()
        with self._files:
            written = self._written_since_scan
            fresh = self._measured_bytes is not None and now - self._measured_at < _MEASURE_SECONDS
            if fresh and (self._measured_bytes or 0) + written <= quota_bytes:
                return 0
            self._written_since_scan = 0
        files = await asyncio.to_thread(stream_files, self._root)
        self._measured_at = now
        self._measured_bytes = sum(file.size for file in files)
        plan = plan_quota(files, quota_bytes)
        if plan is None:
            return 0
        freed = 0
        for file in plan.delete:
            names = self._names_of(file.path)
            if names is not None and await self.remove_stream(*names):
                freed += file.size
        if plan.trim is not None and (names := self._names_of(plan.trim.path)) is not None:
            with self._files:
                self._flush_stream(*names)  # what is cut is the file's front, never buffered lines
            trim = await asyncio.to_thread(plan_trim, plan.trim.path, plan.keep_bytes)
            if trim is not None and self.commit_expiry(*names, trim):
                freed += plan.trim.size - plan.keep_bytes
        self._measured_bytes -= freed
        return freed

    def _names_of(self, path: Path) -> tuple[str, str] | None:
        group = group_name(self._root, path.parent.name)
        stream = stream_name(path.parent, path.name.removesuffix(".jsonl"))
        return (group, stream) if group is not None and stream is not None else None

    def commit_expiry(self, group: str, stream: str, plan: ExpiryPlan) -> int:
        """On the event loop, where no append can land meanwhile: the writer's handle is closed (the
        next flush opens the new file) and what was appended since the plan is carried over, a copy
        as small as what the last flushes wrote. Returns how many events went."""
        key = (group, stream)
        with self._files:
            self._close_handle(key)
            if not finish_expiry(self._stream_path(group, stream), plan):
                return 0
        self._stats.pop(key, None)
        self._indexes.pop(key, None)  # rebuilt, without the runs cut, by the next time-bounded read
        return plan.removed

    async def time_indexes(self, group: str, streams: Sequence[str]) -> dict[str, TimeIndex]:
        """The streams' time indexes (see log_index), brought up to date with their files in a
        thread: a stream's first call reads it whole, later ones only what was written since."""
        current = {stream: self._indexes.setdefault((group, stream), TimeIndex()) for stream in streams}
        paths = {stream: self._stream_path(group, stream) for stream in streams}
        updated = await asyncio.to_thread(
            lambda: {stream: index_more(paths[stream], index) for stream, index in current.items()}
        )
        for stream, index in updated.items():
            if self._indexes.get((group, stream)) is current[stream]:  # not dropped meanwhile
                if index.end:
                    self._indexes[(group, stream)] = index
                else:  # no such file (yet): keep nothing for names that may never exist
                    del self._indexes[(group, stream)]
        return updated

    async def refresh(self) -> None:
        """Nothing to forget: one server owns a data directory's log files."""

    def close(self) -> None:
        self.flush()
        with self._files:
            for handle in self._handles.values():
                handle.close()
            self._handles.clear()
            self._handle_used.clear()


def _rename_folder(directory: Path, target: Path) -> bool:
    try:
        os.rename(directory, target)
    except FileNotFoundError:
        return False
    return True


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _stream_names_in(directory: Path) -> list[str]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    names = (
        stream_name(directory, entry.name.removesuffix(".jsonl"))
        for entry in entries
        if entry.name.endswith(".jsonl")
    )
    return [name for name in names if name is not None]


def _load_stats(path: Path) -> StreamStats | None:
    """Blocking: a stream's stats from its creation record and first and last blocks."""
    try:
        modified_ms = int(os.stat(path).st_mtime * 1000)
    except FileNotFoundError:
        return None
    with StreamBytes.current(path) as source:
        summary = summarize(source)
        size = source.size
    return StreamStats(
        summary.created_ms if summary.created_ms is not None else modified_ms,
        summary.first_event_ms,
        summary.last_event_ms,
        summary.last_ingestion_ms,
        size,
    )


def _utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())
