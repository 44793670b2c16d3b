"""What the Logs API reads from stream files: a page of one stream (GetLogEvents) and the matches of
a filter pattern across streams (FilterLogEvents). Blocking: FileLogStore runs these in a thread
through `read_streams`, over streams opened as they are, with the events still buffered after them.

Searches read a stream's bytes and decode only the lines holding the terms every match must
contain, which keeps a selective search over a million events well under a second.
"""

from __future__ import annotations

import heapq
import itertools
import json
import re
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from operator import attrgetter

from lamina.store.log_index import TimeIndex
from lamina.store.log_reader import StreamBytes, line_chunks, parse_line, read_backward, read_forward
from lamina.store.ports import InvalidLogPosition, Page, PageQuery, SearchQuery, StoredEvent

_encode_string = json.encoder.encode_basestring

# A record's message that, after optional (escaped) whitespace, opens a JSON object. `"m": "` with
# bare quotes only occurs as the record's key (quotes inside messages are escaped), and a literal
# start lets the regex engine skip ahead fast.
_JSON_MESSAGE_RECORD = re.compile(rb'"m": "(?:[ \t]|\\[ntr])*\{')


def read_page(source: StreamBytes, query: PageQuery, index: TimeIndex | None) -> tuple[Page, int] | None:
    """The page (see LogQueryStore.read_page), and the offset it was read from; None when there is
    no such stream (a stream's file holds its creation record from the start). With `index`, only
    the runs of lines it says may hold times in the query's window are read."""
    window, limit = query.window, query.limit
    with source:
        if source.size == 0:
            return None
        position = query.position
        origin = source.size if position is None else min(max(position, source.start), source.size)
        if not source.starts_line(origin):
            raise InvalidLogPosition(origin)
        if query.forward:
            ranges = index.forward_ranges(window, origin, source.size) if index is not None else None
            return read_forward(source, origin, limit, window, ranges=ranges), origin
        ranges = index.backward_ranges(window, origin) if index is not None else None
        return read_backward(source, origin, limit, window, ranges=ranges), origin


def search(
    open_stream: Callable[[str], StreamBytes],
    streams: Sequence[str],
    query: SearchQuery,
    indexes: Mapping[str, TimeIndex] | None,
) -> list[StoredEvent]:
    """Up to `limit + 1` matches in `StoredEvent.key` order (see LogQueryStore.search). Each stream
    is written in time order, so its first `limit + 1` matches are all it adds."""
    pattern, window, after, limit = query.pattern, query.window, query.after, query.limit
    needles = tuple(needle_of(term) for term in pattern.required)

    def matches(source: StreamBytes, stream: str) -> Generator[StoredEvent, None, None]:
        ranges = indexes[stream].forward_ranges(window, 0, source.size) if indexes else None
        with source:
            for found in scan_source(source, stream, needles, json_messages=pattern.json_only, ranges=ranges):
                if not window.holds(found.event.timestamp_ms):
                    continue
                if after is not None and found.key <= after:
                    continue
                if pattern.matches(found.event.message):
                    yield found

    searches = [matches(open_stream(stream), stream) for stream in streams]
    try:
        merged = heapq.merge(*(itertools.islice(each, limit + 1) for each in searches), key=attrgetter("key"))
        return list(itertools.islice(merged, limit + 1))
    finally:
        for each in searches:
            each.close()


def needle_of(term: str) -> bytes:
    """How `term` appears inside a stored message (JSON string escaping is applied character by
    character, so a message containing `term` contains this)."""
    return _encode_string(term)[1:-1].encode()


def scan_source(
    source: StreamBytes,
    stream: str,
    needles: Sequence[bytes] = (),
    *,
    json_messages: bool = False,
    ranges: Sequence[tuple[int, int]] | None = None,
) -> Iterator[StoredEvent]:
    """Blocking: a stream's events in the order written, skipping (without decoding) lines that
    lack any of `needles`, and with `json_messages` those whose message does not start like a JSON
    object; a chunk of lines at a time (a large stream is never in memory whole, and a search that
    stops early reads no further); with `ranges` (from a time index) only those."""
    for begin, end in ranges if ranges is not None else [(0, source.size)]:
        for base, data in line_chunks(source, begin, end=end):
            # A search merges many streams: none holds its file open between chunks (the next read
            # opens it again), so a group of thousands of streams needs no more descriptors.
            source.close()
            lines = _json_message_lines(data, needles) if json_messages else _candidate_lines(data, needles)
            for offset, line in lines:
                event = parse_line(line)
                if event is not None:
                    yield StoredEvent(stream, base + offset, event)


def _json_message_lines(data: bytes, needles: Sequence[bytes]) -> Iterator[tuple[int, bytes]]:
    for found in _JSON_MESSAGE_RECORD.finditer(data):
        start = data.rfind(b"\n", 0, found.start()) + 1
        end = data.find(b"\n", found.end())
        line = data[start : end if end != -1 else len(data)]
        if all(needle in line for needle in needles):
            yield start, line


def _candidate_lines(data: bytes, needles: Sequence[bytes]) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of each line of `data` that contains every needle."""
    if not needles:
        offset = 0
        for line in data.split(b"\n"):
            if line:
                yield offset, line
            offset += len(line) + 1
        return
    first, rest = needles[0], needles[1:]
    position = data.find(first)
    while position != -1:
        start = data.rfind(b"\n", 0, position) + 1
        end = data.find(b"\n", position)
        if end == -1:
            end = len(data)
        line = data[start:end]
        if all(needle in line for needle in rest):
            yield start, line
        position = data.find(first, end)
