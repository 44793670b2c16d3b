"""Retention for one stream file: cut its expired events off the front, in a thread.

The sweep runs every minute; rewriting whole stream files each time to drop their few oldest events
cost a stream's size per minute. A cut is made only when it drops a meaningful share of the file (a
quarter), so each kept byte is rewritten a bounded number of times over its life. Events are appended
in (nearly) time order, so the expired ones are at the front: the cut stops at the first event still
within retention, and an older event after it stays on disk until a later cut. Reads hide every
expired event whatever the disk holds (the Logs API applies the cutoff to each read).

`plan_expiry` only reads the stream and writes a new file beside it; the store swaps it in on the
event loop (`FileLogStore.commit_expiry`), where it closes the writer's handle and copies whatever
was appended meanwhile. Offsets survive the cut (the new file's creation record says how many bytes
came before it), so page tokens handed out before it still read the same events.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from lamina.store.log_reader import BLOCK_BYTES, StreamBytes, lines_forward, parse_line

MIN_CUT_FRACTION = 0.25


@dataclass(frozen=True, slots=True)
class ExpiryPlan:
    """A rewritten stream waiting at `temporary`: it holds the old file's bytes up to `copied_up_to`
    (a length of the file itself) less the `removed` expired events at its front."""

    temporary: Path
    copied_up_to: int
    removed: int


def temporary_path(path: Path) -> Path:
    return path.with_suffix(".expiring")


def plan_expiry(path: Path, before_ms: int, min_fraction: float = MIN_CUT_FRACTION) -> ExpiryPlan | None:
    """Blocking. None when nothing at the front has expired, or too little to be worth a rewrite.

    The rewritten file's creation record counts the bytes cut (`"s"`, see log_reader's
    CREATION_RECORD), so that every kept event keeps its offset, and with it page tokens and
    FilterLogEvents' event ids."""
    with StreamBytes.current(path) as source:
        body_start = source.header_end
        cut, removed = body_start, 0
        for offset, line in lines_forward(source, body_start):
            event = parse_line(line)
            if event is not None and event.timestamp_ms >= before_ms:
                break
            removed += event is not None
            cut = offset + len(line) + 1
        if (cut - body_start) < min_fraction * (source.size - body_start):
            return None
        return _rewrite_from(source, path, cut, removed)


def plan_trim(path: Path, keep_bytes: int) -> ExpiryPlan | None:
    """Blocking: the account's disk quota (log_quota) cuts a stream's oldest events until at most
    `keep_bytes` of it are left, the way retention cuts expired ones. None when nothing needs to go."""
    with StreamBytes.current(path) as source:
        body_start = source.header_end
        need = source.size - keep_bytes
        cut, removed = body_start, 0
        if need <= body_start:
            return None
        for offset, line in lines_forward(source, body_start):
            if cut >= need:
                break
            removed += parse_line(line) is not None
            cut = offset + len(line) + 1
        return _rewrite_from(source, path, cut, removed)


def _rewrite_from(source: StreamBytes, path: Path, cut: int, removed: int) -> ExpiryPlan | None:
    """The file from `cut` on, written beside it with a creation record that keeps offsets."""
    created = source.created_ms if source.created_ms is not None else _now_ms()
    size = source.size
    header = f'{{"c": {created}, "s": "{0:016d}"}}\n'.encode()
    skipped = cut - len(header)
    if removed == 0 or skipped < 0:
        return None
    temporary = temporary_path(path)
    with open(temporary, "wb") as rewritten:
        rewritten.write(f'{{"c": {created}, "s": "{skipped:016d}"}}\n'.encode())
        position = cut
        while position < size:
            block = source.read(position, position + BLOCK_BYTES * 16)
            rewritten.write(block)
            position += len(block)
    return ExpiryPlan(temporary, size - source.start, removed)


def _now_ms() -> int:
    return int(time.time() * 1000)


def finish_expiry(path: Path, plan: ExpiryPlan) -> bool:
    """Swap the rewritten file in, first copying what was appended to the old one since the plan
    (the caller holds the writer off: no append lands in between). False when the stream went away
    or was rewritten meanwhile."""
    try:
        current = os.stat(path).st_size
    except FileNotFoundError:
        plan.temporary.unlink(missing_ok=True)
        return False
    if current < plan.copied_up_to:
        plan.temporary.unlink(missing_ok=True)
        return False
    if current > plan.copied_up_to:
        with open(path, "rb") as old, open(plan.temporary, "ab") as rewritten:
            old.seek(plan.copied_up_to)
            rewritten.write(old.read(current - plan.copied_up_to))
    os.replace(plan.temporary, path)
    return True
