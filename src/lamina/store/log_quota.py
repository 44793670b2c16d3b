"""An account's logs on disk stay under a quota: past it, the oldest data goes first.

Without a bound a function that prints without pause fills the disk the server needs for
everything else, whatever the retention. The server measures each account's stream files every few
seconds (a directory walk in a thread, stats only) and, when they take more than the quota, deletes
whole streams, least recently written first, down to `TARGET_SHARE` of it; when the stream left to
cut is the newest one (a single stream over the quota), its oldest events are cut off the front the
way retention cuts expired ones (log_retention.plan_trim). Cutting below the quota, not just to it,
makes each byte rewritten a bounded number of times.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# A cut brings an account's logs down to this share of its quota.
TARGET_SHARE = 0.75


@dataclass(frozen=True, slots=True)
class StreamFile:
    path: Path
    size: int
    modified_ns: int


@dataclass(frozen=True, slots=True)
class QuotaPlan:
    """Whole streams to delete, oldest first, then at most one to cut to `keep_bytes`."""

    delete: tuple[StreamFile, ...]
    trim: StreamFile | None = None
    keep_bytes: int = 0


def stream_files(root: Path) -> list[StreamFile]:
    """Blocking: every stream file under an account's log folder (folders being removed excluded)."""
    found: list[StreamFile] = []
    try:
        groups = [entry for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith(".")]
    except FileNotFoundError:
        return found
    for group in groups:
        try:
            entries = list(os.scandir(group.path))
        except FileNotFoundError:
            continue
        for entry in entries:
            if not entry.name.endswith(".jsonl"):
                continue
            try:
                status = entry.stat()
            except FileNotFoundError:
                continue
            found.append(StreamFile(Path(entry.path), status.st_size, status.st_mtime_ns))
    return found


def plan_quota(files: list[StreamFile], quota_bytes: int) -> QuotaPlan | None:
    """None while `files` fit in the quota."""
    total = sum(file.size for file in files)
    if total <= quota_bytes:
        return None
    target = int(quota_bytes * TARGET_SHARE)
    ordered = sorted(files, key=lambda file: file.modified_ns)
    delete: list[StreamFile] = []
    for index, file in enumerate(ordered):
        if total <= target:
            break
        if index == len(ordered) - 1 or total - file.size < target:
            # The newest stream, or one whose whole deletion would cut far below the target.
            return QuotaPlan(tuple(delete), file, max(0, file.size - (total - target)))
        delete.append(file)
        total -= file.size
    return QuotaPlan(tuple(delete))
