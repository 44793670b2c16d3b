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
        os.write(write_end, str(runtime).encode())
        os.close(write_end)
        return exits.pop()

    monkeypatch.setattr(zygote.os, "waitpid", waitpid)
    control = Control()
    handovers = {read_end: forked}
    adopted: set[int] = set()
    zygote._reap(control, handovers, adopted)
    assert control.sent == [{"type": "moved", "pid": forked, "to": runtime}]
    assert handovers == {} and adopted == set()


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
    zygote._reap(control, {read_end: 77}, set())
    assert control.sent == [{"type": "exited", "pid": 77, "status": 1}]
