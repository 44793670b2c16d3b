"""Code folders readable only by the environments that run them, for as long as they live.

The code cache keeps one unpacked folder per code SHA-256 (and per merged list of layers), shared by
every environment of that code. Its top folder is closed to everyone but its owner (the server: mode
0500, see code_cache.py); each live environment with a uid of its own is named in the folder's POSIX
access ACL (`user:<uid>:r-x`) from `prepare()` to its release. Only the top folder carries the ACL:
nothing below it can be reached without searching it. So another function's code stays unreadable
even to a function that learns its path (issue 12, attack 6), in the process tier, where environments
share the host's file system, and in the namespaces tier, whose bind mount shows the same folder.

Why an ACL: several environments of one code run at once, each with its own uid (scale-out), which an
owner or a group cannot express without a group per code and supplementary groups per environment;
an ACL is one setxattr(2) per start and per release (microseconds), written whole from the set of
readers this process keeps, so there is no read-modify-write race with the file system.

Several processes of one server (`--workers`) share the code cache, each with its own environments
and uid range: there each write is a read-modify-write of the ACL under an flock of the folder,
replacing only the entries this process wrote, so no process revokes another's environments.

Where the file system has no ACLs (EOPNOTSUPP), the folder is opened to everyone (mode 0555) as
before this module, with one warning: environments must still start. Thread-safe.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import logging
import os
import stat
import struct
import threading
from collections.abc import Container, Iterable, Iterator
from pathlib import Path

_ACL_XATTR = "system.posix_acl_access"
_ACL_VERSION = 2
# <linux/posix_acl.h> tags, in the order the kernel requires entries to appear
_ACL_USER_OBJ = 0x01
_ACL_USER = 0x02
_ACL_GROUP_OBJ = 0x04
_ACL_MASK = 0x10
_ACL_OTHER = 0x20
_ACL_UNDEFINED_ID = 0xFFFFFFFF
_READ_SEARCH = 0o5
_ENTRY = struct.Struct("<HHI")
_HEADER = struct.Struct("<I")
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}
_log = logging.getLogger(__name__)


def access_acl(owner_bits: int, readers: Iterable[int]) -> bytes:
    """The `system.posix_acl_access` value: the owner keeps `owner_bits` (0-7), each uid in `readers`
    may read and search, group and others nothing."""
    named = sorted(set(readers))
    entries = [(_ACL_USER_OBJ, owner_bits & 0o7, _ACL_UNDEFINED_ID)]
    entries += [(_ACL_USER, _READ_SEARCH, uid) for uid in named]
    entries.append((_ACL_GROUP_OBJ, 0, _ACL_UNDEFINED_ID))
    if named:  # named entries need a mask, which bounds them (and shows as the group bits)
        entries.append((_ACL_MASK, _READ_SEARCH, _ACL_UNDEFINED_ID))
    entries.append((_ACL_OTHER, 0, _ACL_UNDEFINED_ID))
    return _HEADER.pack(_ACL_VERSION) + b"".join(_ENTRY.pack(*entry) for entry in entries)


def close_folder(folder: Path) -> None:
    """Owner only (0500): how the code cache leaves a folder no environment holds yet. A folder
    whose ACL already names readers (another worker's environments) is left as it is: its ACL
    closes it to everyone else, and a chmod would zero the mask that lets those readers in."""
    with _folder_locked(folder):
        if not named_readers(_read_acl(folder)):
            os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)


@contextlib.contextmanager
def _folder_locked(folder: Path) -> Iterator[None]:
    """An flock of the folder: ACL changes by several processes (workers) happen one at a time."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _read_acl(folder: Path) -> bytes:
    try:
        return os.getxattr(folder, _ACL_XATTR)
    except OSError as error:
        if error.errno in (errno.ENODATA, *_UNSUPPORTED):
            return b""
        raise


def forget_readers(root: Path, uids: Container[int] | None = None) -> None:
    """Remove named readers from every code folder in `root`: all of them (None: a server starting,
    whose environments are all gone), or those in `uids` (a worker starting on a uid range whose
    earlier environments are gone). Left in place, a reused uid could read another function's code."""
    for folder in root.iterdir() if root.is_dir() else ():
        if not folder.is_dir() or folder.name.endswith(".tmp") or ".tmp" in folder.name:
            continue
        try:
            with _folder_locked(folder):
                named = named_readers(_read_acl(folder))
                kept = set() if uids is None else {uid for uid in named if uid not in uids}
                if named != kept:
                    owner_bits = (os.stat(folder).st_mode >> 6) & 0o7
                    os.setxattr(folder, _ACL_XATTR, access_acl(owner_bits, kept))
                if not kept:
                    os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)
        except OSError as error:
            if error.errno not in (errno.ENOENT, *_UNSUPPORTED):
                _log.warning("could not reset the readers of code folder %s: %s", folder, error)


class CodeReadGrant:
    """One environment's read access to its folders; `revoke()` is idempotent."""

    def __init__(self, access: CodeAccess, folders: list[Path], uid: int) -> None:
        self._access = access
        self._folders = folders
        self._uid = uid
        self._revoked = False

    def revoke(self) -> None:
        if not self._revoked:
            self._revoked = True
            self._access._remove(self._folders, self._uid)


class CodeAccess:
    """The readers of each code folder (uids of live environments), written to its ACL. Only folders
    directly inside `root` (the code cache) are managed: any other folder an environment runs from
    (e.g. a developer's own) keeps its permissions."""

    def __init__(self, root: Path, *, shared: bool = False) -> None:
        """`shared`: other processes grant access to the same folders (several workers)."""
        self._root = root.resolve()
        self._shared = shared
        self._lock = threading.Lock()
        self._readers: dict[Path, collections.Counter[int]] = {}
        self._written: dict[Path, set[int]] = {}  # shared: the named entries this process wrote
        self._warned = False

    def grant(self, folders: Iterable[Path | None], uid: int) -> CodeReadGrant:
        """Let `uid` read `folders` (None entries are skipped) until the grant is revoked. Raises
        OSError when an ACL cannot be written for another reason than missing support (the
        environment must then not start: it could not read its code)."""
        chosen = [
            folder
            for folder in dict.fromkeys(folder for folder in folders if folder is not None)
            if folder.resolve().parent == self._root
        ]
        granted: list[Path] = []
        try:
            for folder in chosen:
                with self._lock:
                    readers = self._readers.setdefault(folder, collections.Counter())
                    readers[uid] += 1
                    granted.append(folder)
                    self._write(folder, readers)
        except BaseException:
            self._remove(granted, uid)
            raise
        return CodeReadGrant(self, chosen, uid)

    def _remove(self, folders: list[Path], uid: int) -> None:
        for folder in folders:
            with self._lock:
                readers = self._readers.get(folder)
                if readers is None:
                    continue
                readers[uid] -= 1
                if readers[uid] <= 0:
                    del readers[uid]
                if not readers:
                    del self._readers[folder]
                try:
                    self._write(folder, readers or collections.Counter())
                except OSError as error:  # e.g. the collector removed it: nothing left to close
                    if error.errno != errno.ENOENT:
                        _log.warning("could not close code folder %s: %s", folder, error)

    def _write(self, folder: Path, readers: collections.Counter[int]) -> None:
        owner_bits = (os.stat(folder).st_mode >> 6) & 0o7
        try:
            if self._shared:
                self._merge(folder, owner_bits, set(readers))
            else:
                os.setxattr(folder, _ACL_XATTR, access_acl(owner_bits, readers))
        except OSError as error:
            if error.errno not in _UNSUPPORTED:
                raise
            if not self._warned:
                self._warned = True
                _log.warning(
                    "the file system of %s has no POSIX ACLs: code folders stay readable by every user",
                    folder,
                )
            os.chmod(folder, 0o555)

    def _merge(self, folder: Path, owner_bits: int, mine: set[int]) -> None:
        """Replace this process's named entries by `mine`, keeping other processes' (under an
        flock of the folder: two processes must not both read, then both write)."""
        with _folder_locked(folder):
            others = named_readers(_read_acl(folder)) - self._written.get(folder, set())
            os.setxattr(folder, _ACL_XATTR, access_acl(owner_bits, others | mine))
            if mine:
                self._written[folder] = set(mine)
            else:
                self._written.pop(folder, None)


def named_readers(acl: bytes) -> set[int]:
    """The uids a `system.posix_acl_access` value names (ACL_USER entries)."""
    if len(acl) < _HEADER.size:
        return set()
    entries = (acl[offset : offset + _ENTRY.size] for offset in range(_HEADER.size, len(acl), _ENTRY.size))
    return {
        uid
        for tag, _, uid in (_ENTRY.unpack(entry) for entry in entries if len(entry) == _ENTRY.size)
        if tag == _ACL_USER
    }
