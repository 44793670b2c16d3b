"""The fork server's reaping: a child that hands its PID namespace over and exits is reported as
moved, never as an environment that exited, however its write and its exit interleave with the
fork server's loop."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lamina.execution.sandbox.confine import read_runtime_signal

ZYGOTE = Path(__file__).resolve().parents[3] / "src/lamina/execution/runtimes/python/zygote.py"


@pytest.fixture
def zygote() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lamina_zygote_under_test", ZYGOTE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Control:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, header: dict[str, Any]) -> None:
        self.sent.append(header)


def test_a_hand_over_written_just_before_the_exit_is_reported_as_moved(
    zygote: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    forked, runtime = 4242, 4243
    exits = [(forked, 0)]

    def waitpid(pid: int, options: int) -> tuple[int, int]:
        if not exits:
            return 0, 0
        # The child writes its hand-over and exits only now: after _reap read the pipes once.
        os.write(write_end, b"%d\n" % runtime)
        return exits.pop()

    monkeypatch.setattr(zygote.os, "waitpid", waitpid)
    control = Control()
    handovers = {read_end: forked}
    adopted: set[int] = set()
    inits: dict[int, list[Any]] = {}
    zygote._reap(control, handovers, adopted, inits)
    assert control.sent == [{"type": "moved", "pid": forked, "to": runtime}]
    assert handovers == {} and adopted == set()
    assert list(inits) == [runtime]  # its pipe stays open: the init reports the runtime's ending there
    os.close(write_end)
    os.close(read_end)


def test_a_child_without_a_hand_over_is_reported_as_exited(
    zygote: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    exits = [(77, 1 << 8)]  # exit status 1

    def waitpid(pid: int, options: int) -> tuple[int, int]:
        if not exits:
            return 0, 0
        os.close(write_end)  # it died before writing anything
        return exits.pop()

    monkeypatch.setattr(zygote.os, "waitpid", waitpid)
    control = Control()
    zygote._reap(control, {read_end: 77}, set(), {})
    assert control.sent == [{"type": "exited", "pid": 77, "status": 1}]


@pytest.mark.parametrize(
    ("report", "status", "expected"),
    [
        (b"runtime-signal 9\n", (128 + 9) << 8, -9),  # a SIGKILL of the runtime
        (b"", 137 << 8, 137),  # exit(137): no report, the init's status is the runtime's
        (b"", 9, -9),  # the init itself killed from outside
    ],
)
def test_an_init_reports_how_the_runtime_ended(
    zygote: ModuleType, monkeypatch: pytest.MonkeyPatch, report: bytes, status: int, expected: int
) -> None:
    """An init cannot die by its own signal: it exits 128+N and reports N on its hand-over pipe."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    forked, init = 4242, 4243
    os.write(write_end, b"%d\n" % init)
    exits = [(forked, 0)]
    control = Control()
    handovers = {read_end: forked}
    adopted: set[int] = set()
    inits: dict[int, list[Any]] = {}

    def waitpid(pid: int, options: int) -> tuple[int, int]:
        return exits.pop() if exits else (0, 0)

    monkeypatch.setattr(zygote.os, "waitpid", waitpid)
    zygote._reap(control, handovers, adopted, inits, read_runtime_signal)  # the forker's exit: moved
    os.write(write_end, report)
    os.close(write_end)
    exits.append((init, status))
    zygote._reap(control, handovers, adopted, inits, read_runtime_signal)
    assert control.sent == [
        {"type": "moved", "pid": forked, "to": init},
        {"type": "exited", "pid": init, "status": expected},
    ]
    assert inits == {}
    with pytest.raises(OSError):
        os.fstat(read_end)  # closed once read
