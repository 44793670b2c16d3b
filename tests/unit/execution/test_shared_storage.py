"""What a uid holds in shared host storage: counted per uid, deleted by uid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lamina.execution.sandbox.shared_storage import (
    SharedStorageMeter,
    remove_of,
    shared_folders,
    usage_by_uid,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0, reason="needs Linux and root"
)
UID = 199_970
_PYTHON = "/usr/bin/python3"  # one other users can run (the test's own may lie below /root)

_MAKE_SEGMENT = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
print(libc.shmget(0, int(sys.argv[1]), 0o1000 | 0o600))
"""


def _owned_file(path: Path, size: int, uid: int) -> None:
    path.write_bytes(b"x" * size)
    os.chown(path, uid, uid)


def _segment_ids() -> set[int]:
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return {int(line.split()[1]) for line in lines}


def test_files_of_the_uid_are_counted_and_removed_and_no_others(tmp_path: Path) -> None:
    shm, var_tmp = tmp_path / "shm", tmp_path / "var-tmp"
    shm.mkdir()
    var_tmp.mkdir()
    _owned_file(shm / "a", 64 * 1024, UID)
    folder = var_tmp / "folder"
    folder.mkdir()
    os.chown(folder, UID, UID)
    _owned_file(folder / "b", 128 * 1024, UID)
    _owned_file(var_tmp / "other", 64 * 1024, UID + 1)
    folders = (shm, var_tmp)
    usage = usage_by_uid(lambda uid: uid in (UID, UID + 1), folders)
    assert usage[UID] >= 192 * 1024 and usage[UID + 1] >= 64 * 1024
    assert SharedStorageMeter(lambda uid: uid == UID, folders).usage(UID) == usage[UID]
    assert remove_of(lambda uid: uid == UID, folders) == 2
    assert sorted(path.name for path in (*shm.iterdir(), *var_tmp.iterdir())) == ["other"]


def test_shared_folders_are_the_existing_world_writable_ones_links_resolved_once(tmp_path: Path) -> None:
    tmp, lock, private = tmp_path / "tmp", tmp_path / "lock", tmp_path / "private"
    for folder in (tmp, lock, private):
        folder.mkdir()
    tmp.chmod(0o1777)
    lock.chmod(0o1777)
    private.chmod(0o755)
    (tmp_path / "var-lock").symlink_to(lock)
    candidates = tuple(tmp_path / name for name in ("tmp", "lock", "var-lock", "private", "missing"))
    assert shared_folders(candidates) == (tmp, lock)
    # The host's: /tmp is among them wherever it is world-writable, as it is on every Linux host.
    assert Path("/tmp").resolve() in shared_folders()


def test_sticky_world_writable_folders_of_others_are_searched_and_left(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    sockets, open_folder, private = tmp / ".X11-unix", tmp / "open", tmp / "private"
    for folder in (tmp, sockets, open_folder, private):
        folder.mkdir()
    tmp.chmod(0o1777)
    sockets.chmod(0o1777)
    open_folder.chmod(0o777)  # not sticky: a uid of the range could swap its entries under a walk
    _owned_file(tmp / "top", 64 * 1024, UID)
    _owned_file(sockets / "nested", 32 * 1024, UID)
    _owned_file(open_folder / "unseen", 16 * 1024, UID)
    _owned_file(private / "unseen", 16 * 1024, UID)
    _owned_file(sockets / "theirs", 16 * 1024, UID + 1)
    usage = usage_by_uid(lambda uid: uid == UID, (tmp,))
    assert 96 * 1024 <= usage[UID] < 112 * 1024
    assert remove_of(lambda uid: uid == UID, (tmp,)) == 2
    assert not (tmp / "top").exists() and not (sockets / "nested").exists()
    assert (sockets / "theirs").exists() and sockets.is_dir()
    assert (open_folder / "unseen").exists() and (private / "unseen").exists()


@pytest.mark.skipif(not os.path.exists(_PYTHON), reason=f"needs {_PYTHON}")
def test_system_v_segments_of_the_uid_are_counted_and_removed(tmp_path: Path) -> None:
    made = subprocess.run(
        [_PYTHON, "-c", _MAKE_SEGMENT, str(3 * 1024 * 1024)],
        user=UID,
        group=UID,
        extra_groups=[],
        check=True,
        capture_output=True,
        text=True,
    )
    segment = int(made.stdout)
    assert segment in _segment_ids()
    try:
        assert usage_by_uid(lambda uid: uid == UID, (tmp_path,)) == {UID: 3 * 1024 * 1024}
        assert remove_of(lambda uid: uid == UID, (tmp_path,)) == 1
        assert segment not in _segment_ids()
    finally:
        subprocess.run(["ipcrm", "-m", str(segment)], capture_output=True)
