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

Where the file system has no ACLs (EOPNOTSUPP), the folder is opened to everyone (mode 0555) as
before this module, with one warning: environments must still start. Thread-safe.
"""

from __future__ import annotations

import collections
import errno
import logging
import os
import stat
import struct
import threading
from collections.abc import Iterable
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
    """Owner only (0500): how the code cache leaves a folder no environment holds yet."""
    os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)


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

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        self._lock = threading.Lock()
        self._readers: dict[Path, collections.Counter[int]] = {}
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
