"""Log events on local disk: one JSON-lines file per stream, one folder per group.

Appends only format and buffer in memory; `flush()` (the server calls it a few times a second and on
shutdown) writes each stream's buffer through an open append handle, so a crash loses at most the
last fraction of a second, and a server with more busy streams than open handles (1,000 warm
environments, one stream each) opens files once per flush, not once per invocation. Reads are for
the CLI and the Logs API, not the hot path.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Sequence
from io import TextIOWrapper
from pathlib import Path

from lamina.store.ports import LogEvent

_MAX_OPEN_STREAMS = 256
_encode_string = json.encoder.encode_basestring


def _encode(name: str) -> str:
    """Group and stream names contain '/', '[' and '$': make them one safe file name each.

    Dots are encoded too, so that names such as `..` cannot address another folder.
    """
    return urllib.parse.quote(name, safe="").replace(".", "%2E") or "%00"


def _decode(file_name: str) -> str:
    return urllib.parse.unquote(file_name)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as existing:
        existing.seek(-1, 2)
        return existing.read(1) == b"\n"


class FileLogStore:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._handles: OrderedDict[tuple[str, str], TextIOWrapper] = OrderedDict()
        self._pending: dict[tuple[str, str], list[str]] = {}  # formatted, not yet written
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _stream_path(self, group: str, stream: str) -> Path:
        return self._root / _encode(group) / f"{_encode(stream)}.jsonl"

    def _handle(self, group: str, stream: str) -> TextIOWrapper:
        key = (group, stream)
        handle = self._handles.get(key)
        if handle is not None:
            self._handles.move_to_end(key)
            return handle
        path = self._stream_path(group, stream)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across appends, closed on eviction
        if handle.tell() > 0 and not _ends_with_newline(path):
            handle.write("\n")  # a torn record from a crash must not swallow the next one
        self._handles[key] = handle
        while len(self._handles) > _MAX_OPEN_STREAMS:
            _, oldest = self._handles.popitem(last=False)
            oldest.close()
        return handle

    def append(self, group: str, stream: str, events: Sequence[tuple[int, str]]) -> None:
        if not events:
            return
        ingested = int(time.time() * 1000)
        # The same JSON as json.dumps({"t", "m", "i"}), built with the C string encoder: this runs for
        # every line of every invocation.
        text = "".join(
            f'{{"t": {int(timestamp)}, "m": {_encode_string(message)}, "i": {ingested}}}\n'
            for timestamp, message in events
        )
        pending = self._pending.get((group, stream))
        if pending is None:
            self._pending[(group, stream)] = [text]
        else:
            pending.append(text)

    def flush(self) -> None:
        """Write buffered events to the OS; a crash loses at most what came since the last call."""
        pending, self._pending = self._pending, {}
        failed: OSError | None = None
        for (group, stream), chunks in pending.items():
            try:
                handle = self._handle(group, stream)
                handle.write("".join(chunks))
                handle.flush()
            except OSError as error:  # kept for the next flush; the other streams still go out
                self._pending.setdefault((group, stream), []).extend(chunks)
                failed = error
        if failed is not None:
            raise failed

    def _flush_stream(self, group: str, stream: str) -> None:
        chunks = self._pending.pop((group, stream), None)
        if chunks:
            handle = self._handle(group, stream)
            handle.write("".join(chunks))
            handle.flush()

    def list_groups(self) -> list[str]:
        self.flush()  # a stream exists on disk from its first write
        if not self._root.exists():
            return []
        return sorted(_decode(path.name) for path in self._root.iterdir() if path.is_dir())

    def list_streams(self, group: str) -> list[str]:
        self.flush()
        directory = self._root / _encode(group)
        if not directory.exists():
            return []
        files = sorted(directory.glob("*.jsonl"), key=lambda path: path.stat().st_mtime)
        return [_decode(path.name.removesuffix(".jsonl")) for path in files]

    def read(self, group: str, stream: str, *, start_index: int = 0) -> list[LogEvent]:
        path = self._stream_path(group, stream)
        self._flush_stream(group, stream)
        try:
            # Split on "\n" only: messages may hold U+2028 and friends, which splitlines() breaks on.
            lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line]
        except FileNotFoundError:
            return []
        events = []
        for line in lines[start_index:]:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line after a crash
            events.append(LogEvent(record["t"], record["m"], record["i"]))
        return events

    def close(self) -> None:
        self.flush()
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()
