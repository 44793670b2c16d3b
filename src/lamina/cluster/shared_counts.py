"""Counters all workers of one server share: concurrency in flight, memory reserved, memory idle.

Limits must hold across workers (a reservation of 10 means 10 in flight in all of them together),
and the invocation path must not wait on another process to check one. So the counts live in one
file mapping every worker maps: a table of keys, each with a column per worker. A worker changes
only its own column; checking a limit and counting in is one step under an exclusive `flock` of
the file (two system calls, uncontended in the common case), so two workers can never both take the
last unit. A worker that dies leaves its column behind: the primary zeroes it before starting the
replacement (`clear_column`), since the dead worker's environments and invocations went with it.
One more column holds what other servers sharing the limits count (servers on one database): the
primary sets it (`set_elsewhere`), and every check includes it.

Keys are 64-bit hashes of their names (BLAKE2b); the table is open-addressed and never shrinks, so
a key's slot, once made, is stable and readers need no lock. It implements `execution/counts.py`'s
`Counts`, as `LocalCounts` does for a single process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import struct
from pathlib import Path

_MAGIC = b"LMCNT001"
_HEADER = struct.Struct("<8sII")  # magic, workers, slots
DEFAULT_SLOTS = 65536
_KEY = struct.Struct("<Q")


class SharedCounts:
    """The table in a file every worker maps; `index` is this worker's column."""

    def __init__(
        self, path: Path, workers: int, index: int, *, create: bool = False, slots: int = DEFAULT_SLOTS
    ) -> None:
        if not 0 <= index < workers:
            raise ValueError(f"worker {index} of {workers}")
        self.path = path
        self._workers = workers
        self._index = index
        self._slots = slots
        self._slot_size = 8 + 8 * (workers + 1)  # the workers' columns, then the other servers'
        self._row = struct.Struct(f"<{workers + 1}q")
        self._workers_row = struct.Struct(f"<{workers}q")
        size = _HEADER.size + slots * self._slot_size
        flags = os.O_RDWR | (os.O_CREAT | os.O_TRUNC if create else 0)
        self._fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(self._fd, size)
            self._map = mmap.mmap(self._fd, size)
        except BaseException:
            os.close(self._fd)
            raise
        if create:
            _HEADER.pack_into(self._map, 0, _MAGIC, workers, slots)
        elif _HEADER.unpack_from(self._map, 0) != (_MAGIC, workers, slots):
            self.close()
            raise ValueError(f"{path} is not a table of {workers} workers' counts")
        self._offsets: dict[str, int] = {}  # key -> its slot's offset, once found

    @contextlib.contextmanager
    def _locked(self):  # type: ignore[no-untyped-def]
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _offset(self, key: str, *, insert: bool) -> int | None:
        found = self._offsets.get(key)
        if found is not None:
            return found
        digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") or 1
        slot = digest % self._slots
        for _ in range(self._slots):
            offset = _HEADER.size + slot * self._slot_size
            (stored,) = _KEY.unpack_from(self._map, offset)
            if stored == digest:
                self._offsets[key] = offset
                return offset
            if stored == 0:
                if not insert:
                    return None
                _KEY.pack_into(self._map, offset, digest)
                self._offsets[key] = offset
                return offset
            slot = (slot + 1) % self._slots
        if not insert:
            return None  # full, and not there: never counted
        raise RuntimeError("the shared counts table is full")

    def _own(self, offset: int) -> int:
        return offset + 8 + 8 * self._index

    def try_add(self, key: str, amount: int, limit: int) -> bool:
        with self._locked():
            offset = self._offset(key, insert=True)
            assert offset is not None
            if sum(self._row.unpack_from(self._map, offset + 8)) + amount > limit:
                return False
            own = self._own(offset)
            (current,) = struct.unpack_from("<q", self._map, own)
            struct.pack_into("<q", self._map, own, current + amount)
            return True

    def add(self, key: str, amount: int) -> None:
        offset = self._offsets.get(key)
        if offset is None:
            with self._locked():
                offset = self._offset(key, insert=True)
        assert offset is not None
        own = self._own(offset)
        (current,) = struct.unpack_from("<q", self._map, own)
        struct.pack_into("<q", self._map, own, current + amount)  # this worker's column: no lock

    def set_own(self, key: str, value: int) -> None:
        offset = self._offsets.get(key)
        if offset is None:
            with self._locked():
                offset = self._offset(key, insert=True)
        assert offset is not None
        struct.pack_into("<q", self._map, self._own(offset), value)

    def total(self, key: str) -> int:
        offset = self._offset(key, insert=False)
        return 0 if offset is None else sum(self._row.unpack_from(self._map, offset + 8))

    def here(self, key: str) -> int:
        offset = self._offset(key, insert=False)
        return 0 if offset is None else sum(self._workers_row.unpack_from(self._map, offset + 8))

    def set_elsewhere(self, key: str, value: int) -> None:
        offset = self._offsets.get(key)
        if offset is None:
            with self._locked():
                offset = self._offset(key, insert=True)
        assert offset is not None
        struct.pack_into("<q", self._map, offset + 8 + 8 * self._workers, value)  # the primary's alone

    def others(self, key: str) -> list[tuple[int, int]]:
        offset = self._offset(key, insert=False)
        if offset is None:
            return []
        row = self._workers_row.unpack_from(self._map, offset + 8)
        return [(worker, count) for worker, count in enumerate(row) if count and worker != self._index]

    def clear_column(self, worker: int) -> None:
        """Forget everything `worker` counted (it died; its invocations and environments with it)."""
        with self._locked():
            for slot in range(self._slots):
                offset = _HEADER.size + slot * self._slot_size
                struct.pack_into("<q", self._map, offset + 8 + 8 * worker, 0)

    def close(self) -> None:
        with contextlib.suppress(ValueError, BufferError):
            self._map.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)


def counts_path(data_dir: Path) -> Path:
    """A file in memory where the host has /dev/shm, else in the data directory. Tables a killed
    primary left behind (its pid is in the name) are removed first."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        remove_orphaned_tables(shm)
        return shm / f"lamina-counts-{os.getpid()}-{os.urandom(6).hex()}"
    return data_dir / "workers" / "counts"


def remove_orphaned_tables(folder: Path) -> list[Path]:
    """Remove `lamina-counts-<pid>-*` files whose primary is no longer running; returns them."""
    removed = []
    for path in folder.glob("lamina-counts-*-*"):
        pid_text = path.name.split("-")[2]
        if not pid_text.isdigit() or Path(f"/proc/{pid_text}").exists():
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed
