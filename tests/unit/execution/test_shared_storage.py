"""What a uid holds in shared host storage: counted per uid, deleted by uid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lamina.execution.sandbox.shared_storage import SharedStorageMeter, remove_of, usage_by_uid

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
