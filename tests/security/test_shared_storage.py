"""Attack 7 of issue 12: in the process tier /var/tmp, /dev/shm and System V shared memory were shared,
uncounted and outlived the environment (2 GB + 1.2 GB + a 300 MB segment stayed behind); so were a
literal /tmp (the host's: TMPDIR only points elsewhere) and /run/lock (3 x 300 MB through /tmp with
EphemeralStorage 512, files left after DeleteFunction and restarts, readable by the next uid). Now what an
environment's uid holds there counts against its EphemeralStorage while it lives (past it the
environment is ended, as for /tmp) and is deleted when it ends. In the namespaces tier none of it
reaches the host at all (its own /dev, its own IPC namespace)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.security.conftest import TIERS, assert_still_serving, create_function, invoke, server_in_tier
from tests.support.server import RunningServer

HOARDER = r"""
import ctypes, os, time

_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmget.restype = ctypes.c_int
_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
IPC_PRIVATE, IPC_CREAT = 0, 0o1000

def _write(path, megabytes):
    chunk = b"x" * (1024 * 1024)
    try:
        with open(path, "wb") as target:
            for _ in range(megabytes):
                target.write(chunk)
        return path
    except OSError as error:
        return type(error).__name__

def leave(event, context):
    files = [_write(os.path.join(folder, event["marker"]), event["megabytes"]) for folder in event["folders"]]
    segment = _libc.shmget(IPC_PRIVATE, event["segment_mb"] * 1024 * 1024, IPC_CREAT | 0o600)
    return {"uid": os.getuid(), "files": files, "segment": segment}

def hoard(event, context):
    for index, megabytes in enumerate(event.get("files_mb", [])):
        _write(os.path.join(event["folder"], f"{event['marker']}-{index}"), megabytes)
    if event.get("segment_mb"):
        _libc.shmget(IPC_PRIVATE, event["segment_mb"] * 1024 * 1024, IPC_CREAT | 0o600)
    time.sleep(20)  # the watcher ends the environment meanwhile
    return {"survived": True}
"""


def _segments_of(uid: int) -> list[int]:
    """Host System V shared memory segments created by `uid` (their ids)."""
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()
    names = lines[0].split()
    rows = [dict(zip(names, map(int, line.split()), strict=False)) for line in lines[1:]]
    return [row["shmid"] for row in rows if uid in (row["uid"], row["cuid"])]


# The host's world-writable folders a process-tier environment can write by literal path.
SHARED = tuple(folder for folder in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock") if Path(folder).is_dir())


def _on_host(marker: str) -> list[Path]:
    return [path for folder in SHARED for path in Path(folder).glob(f"{marker}*")]


def _eventually(condition: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.fixture(scope="module", params=TIERS)
def short_lived(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """Idle environments end after 2 s, so a test sees what an environment leaves when it ends."""
    # A range of its own: another server starting on this host cleans only its own range.
    uids = "3300000-3300999" if request.param == "process" else "3301000-3301999"
    with server_in_tier(request.param, "--keep-alive", "2", "--sandbox-uids", uids) as server:
        yield server


@pytest.fixture
def marker() -> Iterator[str]:
    marker = f"lamina-hoard-{uuid.uuid4().hex}"
    yield marker
    for path in _on_host(marker):
        with contextlib.suppress(OSError):
            path.unlink()


def test_what_an_environment_leaves_in_shared_storage_goes_with_it(
    short_lived: RunningServer, marker: str
) -> None:
    name = create_function(short_lived, {"app.py": HOARDER}, "app.leave")
    event = {"marker": marker, "megabytes": 1, "segment_mb": 8, "folders": SHARED}
    response, result = invoke(short_lived, name, event)
    assert "FunctionError" not in response, result
    uid = result["uid"]
    if short_lived.health()["sandbox"] == "process":
        # The attack's premise: the process tier's environment wrote to the host's shared storage.
        assert len(_on_host(marker)) == len(SHARED), result
        assert result["segment"] in _segments_of(uid), result
    assert _eventually(lambda: short_lived.health()["environments"] == 0), "the environment never ended"
    assert _eventually(lambda: not _on_host(marker) and not _segments_of(uid)), (
        _on_host(marker),
        _segments_of(uid),
    )
    assert_still_serving(short_lived)


@pytest.mark.parametrize(
    "hoard",
    [
        pytest.param({"folder": "/var/tmp", "files_mb": [300, 300]}, id="var-tmp"),
        pytest.param({"folder": "/tmp", "files_mb": [300, 300, 300]}, id="tmp"),
        pytest.param({"folder": "/dev/shm", "files_mb": [300, 300]}, id="dev-shm"),
        pytest.param({"folder": "/var/tmp", "segment_mb": 600}, id="sysv-segment"),
        pytest.param({"folder": "/var/tmp", "files_mb": [200], "segment_mb": 400}, id="together"),
    ],
)
def test_shared_storage_counts_against_ephemeral_storage(
    short_lived: RunningServer, marker: str, hoard: dict[str, object]
) -> None:
    if short_lived.health()["sandbox"] != "process":
        pytest.skip(
            "the namespaces tier's /dev/shm and IPC are its own (the test above shows none reach the host)"
        )
    name = create_function(
        short_lived, {"app.py": HOARDER}, "app.hoard", MemorySize=1024, EphemeralStorage={"Size": 512}
    )
    response, result = invoke(short_lived, name, {"marker": marker, **hoard})
    assert response.get("FunctionError") == "Unhandled", result
    assert result != {"survived": True}
    assert _eventually(lambda: not _on_host(marker)), _on_host(marker)
    assert_still_serving(short_lived)
