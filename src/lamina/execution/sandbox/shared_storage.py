"""Host storage the process tier cannot make private: world-writable folders and System V IPC.

In the process tier an environment's TMPDIR and HOME are a scratch folder of its own, but the host's
world-writable folders (/tmp itself, /var/tmp, /dev/shm, /run/lock, ...) are writable by literal path
and the IPC namespace is the host's: whatever an environment leaves there would outlive it, escape
EphemeralStorage and be readable by the next environment. Everything it creates there is owned by its
uid (its own, for its lifetime), so ownership says what is whose: `usage_by_uid` counts it against the
environment's EphemeralStorage while it lives, `remove_of` deletes it when it ends (and at server
start for the whole range, after a server that was killed). Entries of other owners (the server's own
files, other users' folders) are never touched.

Limits: only entries at the top of those folders, below folders the uid owns, or below sticky
world-writable folders of other owners found there (/tmp/.X11-unix) are seen (a folder of another user
that is world-writable but not sticky is not searched: its entries could be swapped under a walk);
POSIX message queues are not covered unless /dev/mqueue is mounted. The namespaces tier has none of
this: its /tmp, /dev/shm and /var/tmp are its own and its IPC namespace too.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# World-writable host folders an environment can write by literal path; those that exist, resolved
# (/var/lock and /run/shm are usually links) and deduplicated, are `shared_folders()`.
CANDIDATE_FOLDERS = (
    Path("/tmp"),
    Path("/var/tmp"),
    Path("/dev/shm"),
    Path("/run/shm"),
    Path("/run/lock"),
    Path("/var/lock"),
    Path("/dev/mqueue"),
)
# How deep sticky world-writable folders of other owners are searched (/tmp/.X11-unix is depth 1).
_NESTED_DEPTH = 3
_SYSV = Path("/proc/sysvipc")
_IPC_RMID = 0
_CACHE_SECONDS = 0.4


def _world_writable(info: os.stat_result) -> bool:
    return stat.S_ISDIR(info.st_mode) and bool(info.st_mode & stat.S_IWOTH)


def shared_folders(candidates: tuple[Path, ...] = CANDIDATE_FOLDERS) -> tuple[Path, ...]:
    """The distinct, existing, world-writable folders among `candidates` (links resolved). A few
    stats: cheap enough to ask again whenever a folder might have been mounted since."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for candidate in candidates:
        with contextlib.suppress(OSError, RuntimeError):
            folder = candidate.resolve(strict=True)
            info = folder.stat()
            if _world_writable(info) and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                found.append(folder)
    return tuple(found)


def _owned_entries(
    folders: tuple[Path, ...], matches: Callable[[int], bool]
) -> list[tuple[os.DirEntry[str], int]]:
    """(entry, owner) for every entry of `folders` owned by a matching uid: at their top, and below
    sticky world-writable folders of other owners (only their owners may rename their entries, so a
    matching uid cannot swap a path under the walk)."""
    found = []
    pending = [(str(folder), 0) for folder in folders]
    while pending:
        folder, depth = pending.pop()
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    if matches(info.st_uid):
                        found.append((entry, info.st_uid))
                    elif depth < _NESTED_DEPTH and _world_writable(info) and info.st_mode & stat.S_ISVTX:
                        pending.append((entry.path, depth + 1))
    return found


def _allocated(entry: os.DirEntry[str]) -> int:
    """Bytes an entry uses (blocks: sparse files count for what they hold), folders walked."""
    info = entry.stat(follow_symlinks=False)
    if not stat.S_ISDIR(info.st_mode):
        return int(info.st_blocks) * 512
    return tree_size(entry.path)


def tree_size(folder: str | os.PathLike[str]) -> int:
    """Bytes allocated below `folder` (blocks, so sparse files count for what they really use)."""
    total = 0
    pending = [os.fspath(folder)]
    while pending:
        with contextlib.suppress(OSError), os.scandir(pending.pop()) as children:
            for child in children:
                with contextlib.suppress(OSError):
                    if child.is_dir(follow_symlinks=False):
                        pending.append(child.path)
                    else:
                        total += child.stat(follow_symlinks=False).st_blocks * 512
    return total


def _ipc_table(kind: str) -> list[dict[str, int]]:
    """Rows of /proc/sysvipc/{shm,sem,msg}, keyed by the header's names."""
    try:
        lines = (_SYSV / kind).read_text().splitlines()
    except OSError:
        return []
    if not lines:
        return []
    names = lines[0].split()
    rows = []
    for line in lines[1:]:
        with contextlib.suppress(ValueError):
            rows.append(dict(zip(names, map(int, line.split()), strict=False)))
    return rows


def _ipc_owner(row: dict[str, int], matches: Callable[[int], bool]) -> int | None:
    for key in ("uid", "cuid"):
        if key in row and matches(row[key]):
            return row[key]
    return None


def usage_by_uid(matches: Callable[[int], bool], folders: tuple[Path, ...] | None = None) -> dict[int, int]:
    """Bytes each matching uid holds in the shared folders (default: `shared_folders()`), System V
    shared memory segments and message queues. Blocking (a walk): call it off the event loop."""
    usage: dict[int, int] = {}
    for entry, owner in _owned_entries(shared_folders() if folders is None else folders, matches):
        with contextlib.suppress(OSError):
            usage[owner] = usage.get(owner, 0) + _allocated(entry)
    for kind, size in (("shm", "size"), ("msg", "cbytes")):
        for row in _ipc_table(kind):
            creator = _ipc_owner(row, matches)
            if creator is not None:
                usage[creator] = usage.get(creator, 0) + row.get(size, 0)
    return usage


def _libc() -> Any:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def remove_of(matches: Callable[[int], bool], folders: tuple[Path, ...] | None = None) -> int:
    """Delete what matching uids own in the shared folders (default: `shared_folders()`) and every
    System V object they own or created; call once their processes are dead. Returns how many things
    were removed. Blocking."""
    removed = 0
    for entry, _ in _owned_entries(shared_folders() if folders is None else folders, matches):
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
    tables = [(kind, _ipc_table(kind)) for kind in ("shm", "sem", "msg")]
    if not any(_ipc_owner(row, matches) is not None for _, rows in tables for row in rows):
        return removed
    libc = _libc()
    for kind, rows in tables:
        for row in rows:
            if _ipc_owner(row, matches) is None:
                continue
            if kind == "shm":
                result = libc.shmctl(row["shmid"], _IPC_RMID, None)
            elif kind == "sem":
                result = libc.semctl(row["semid"], 0, _IPC_RMID)
            else:
                result = libc.msgctl(row["msqid"], _IPC_RMID, None)
            removed += result == 0
    return removed


class SharedStorageMeter:
    """`usage_by_uid` for a uid range, shared by every environment's watcher: one walk serves all the
    watchers that ask within a moment of each other (a thousand idle environments would otherwise
    walk the same folders a thousand times). Thread-safe: watchers ask from worker threads."""

    def __init__(self, matches: Callable[[int], bool], folders: tuple[Path, ...] | None = None) -> None:
        self._matches = matches
        self._folders = shared_folders() if folders is None else folders
        self._lock = threading.Lock()
        self._usage: dict[int, int] = {}
        self._measured = float("-inf")

    def usage(self, uid: int) -> int:
        """Bytes `uid` holds now (at most a moment old). Blocking."""
        with self._lock:
            if time.monotonic() - self._measured > _CACHE_SECONDS:
                self._usage = usage_by_uid(self._matches, self._folders)
                self._measured = time.monotonic()
            return self._usage.get(uid, 0)
