"""code_access.py: code folders open to the uids of their live environments only."""

from __future__ import annotations

import errno
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.execution.sandbox.code_access import CodeAccess, access_acl, close_folder, forget_readers

ACL = "system.posix_acl_access"
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def named_readers(folder: Path) -> dict[int, int]:
    """uid -> permission bits of the folder's named-user ACL entries."""
    try:
        value = os.getxattr(folder, ACL)
    except OSError as error:  # a minimal ACL is kept as the mode bits alone
        if error.errno == errno.ENODATA:
            return {}
        raise
    entries = [struct.unpack_from("<HHI", value, offset) for offset in range(4, len(value), 8)]
    return {ident: perm for tag, perm, ident in entries if tag == 0x02}


def test_acl_value_lists_entries_in_kernel_order() -> None:
    value = access_acl(0o5, [100_002, 100_001, 100_001])
    assert struct.unpack_from("<I", value)[0] == 2
    entries = [struct.unpack_from("<HHI", value, offset) for offset in range(4, len(value), 8)]
    undefined = 0xFFFFFFFF
    assert entries == [
        (0x01, 0o5, undefined),
        (0x02, 0o5, 100_001),
        (0x02, 0o5, 100_002),
        (0x04, 0, undefined),
        (0x10, 0o5, undefined),
        (0x20, 0, undefined),
    ]
    assert len(access_acl(0o7, [])) == 4 + 3 * 8  # no mask without named entries


@pytest.fixture
def cache() -> Iterator[Path]:
    """A code cache other users can reach (pytest's own folders are private to root)."""
    parent = Path(tempfile.mkdtemp(prefix="lamina-code-access-", dir="/tmp"))
    parent.chmod(0o755)
    root = parent / "code"
    root.mkdir(mode=0o711)
    root.chmod(0o711)
    try:
        yield root
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _supports_acls(folder: Path) -> bool:
    try:
        os.setxattr(folder, ACL, access_acl(0o7, []))
    except OSError:
        return False
    return True


def test_grants_follow_live_environments(cache: Path) -> None:
    folder = cache / ("a" * 64)
    folder.mkdir()
    close_folder(folder)
    if not _supports_acls(folder):
        pytest.skip("no POSIX ACLs on this file system")
    access = CodeAccess(cache)
    first = access.grant([folder, None], 100_001)
    second = access.grant([folder], 100_002)
    again = access.grant([folder], 100_001)  # two environments may never share a uid; still counted
    assert named_readers(folder) == {100_001: 0o5, 100_002: 0o5}
    first.revoke()
    first.revoke()  # idempotent
    assert named_readers(folder) == {100_001: 0o5, 100_002: 0o5}
    again.revoke()
    assert named_readers(folder) == {100_002: 0o5}
    second.revoke()
    assert named_readers(folder) == {}
    assert os.stat(folder).st_mode & 0o077 == 0


def test_folders_outside_the_cache_keep_their_permissions(cache: Path) -> None:
    own = cache.parent / "project"
    own.mkdir(mode=0o755)
    own.chmod(0o755)
    CodeAccess(cache).grant([own], 100_001)
    assert os.stat(own).st_mode & 0o777 == 0o755
    with pytest.raises(OSError):
        os.getxattr(own, ACL)


READ = "import sys; print(open(sys.argv[1]).read())"
SYSTEM_PYTHON = "/usr/bin/python3"  # one other users can run (the virtual environment may be private)


@pytest.mark.skipif(not ROOT or not os.path.exists(SYSTEM_PYTHON), reason="needs root and a system Python")
def test_only_the_granted_uid_reads_the_code(cache: Path) -> None:
    folder = cache / ("b" * 64)
    folder.mkdir()
    (folder / "app.py").write_text("SECRET = 1\n")
    (folder / "app.py").chmod(0o444)
    close_folder(folder)
    if not _supports_acls(folder):
        pytest.skip("no POSIX ACLs on this file system")
    grant = CodeAccess(cache).grant([folder], 100_011)

    def read_as(uid: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SYSTEM_PYTHON, "-I", "-S", "-c", READ, str(folder / "app.py")],
            user=uid,
            group=uid,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert read_as(100_011).stdout == "SECRET = 1\n\n"
    assert "PermissionError" in read_as(100_012).stderr
    grant.revoke()
    assert "PermissionError" in read_as(100_011).stderr


def test_workers_sharing_a_folder_keep_each_others_readers(cache: Path) -> None:
    """Two processes' CodeAccess (two workers): each grant and revoke changes only its own
    entries, and a worker's first use of a folder (close_folder) leaves the other's readers in."""
    folder = cache / ("c" * 64)
    folder.mkdir()
    close_folder(folder)
    if not _supports_acls(folder):
        pytest.skip("no POSIX ACLs on this file system")
    first, second = CodeAccess(cache, shared=True), CodeAccess(cache, shared=True)
    mine = first.grant([folder], 100_001)
    theirs = second.grant([folder], 200_001)
    close_folder(folder)
    assert named_readers(folder) == {100_001: 0o5, 200_001: 0o5}
    assert (os.stat(folder).st_mode >> 3) & 0o7 == 0o5  # the mask still lets them read
    mine.revoke()
    assert named_readers(folder) == {200_001: 0o5}
    theirs.revoke()
    assert named_readers(folder) == {}
    assert os.stat(folder).st_mode & 0o077 == 0


def test_readers_a_previous_run_left_are_forgotten(cache: Path) -> None:
    folder = cache / ("d" * 64)
    folder.mkdir()
    close_folder(folder)
    if not _supports_acls(folder):
        pytest.skip("no POSIX ACLs on this file system")
    os.setxattr(folder, ACL, access_acl(0o5, [100_001, 200_001]))
    forget_readers(cache, range(200_000, 300_000))  # a worker starting on uids 200000 and up
    assert named_readers(folder) == {100_001: 0o5}
    forget_readers(cache)  # the primary starting: every environment is gone
    assert named_readers(folder) == {}
    assert os.stat(folder).st_mode & 0o077 == 0
