"""The event recorder: only functions that opted in are recorded, with the status the invocation
ended in; a failed write keeps what was recorded; pruning follows each function's policy and
forgets deleted functions."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from lamina.clock import ManualClock
from lamina.domain.recordings import RecordedInvocation
from lamina.observability.event_recordings import EventRecorder, prune_recordings


def _call(
    name: str, environment: dict[str, str], status: str | None = None, error: str | None = None
) -> tuple[Any, Any]:
    invocation = SimpleNamespace(
        config=SimpleNamespace(name=name, environment=environment), payload=b'{"e": 1}'
    )
    report = SimpleNamespace(request_id=f"id-{name}-{status}-{error}", duration_ms=3.5, status=status)
    result = SimpleNamespace(report=report, function_error=error, executed_version="2")
    return invocation, result


class Sink:
    def __init__(self, failing: bool = False) -> None:
        self.added: list[RecordedInvocation] = []
        self.failing = failing

    async def add(self, recorded: Sequence[RecordedInvocation]) -> None:
        if self.failing:
            raise OSError("disk full")
        self.added += recorded


ON = {"LAMINA_RECORD_EVENTS": "on"}


def test_only_opted_in_functions_are_recorded_with_their_status() -> None:
    sink = Sink()
    recorder = EventRecorder(sink, ManualClock(1000.0))  # type: ignore[arg-type]
    recorder.invoked(*_call("quiet", {}), 1)
    recorder.invoked(*_call("loud", ON), 1)
    recorder.invoked(*_call("loud", ON, error="Unhandled"), 1)
    recorder.invoked(*_call("loud", ON, status="timeout", error="Unhandled"), 1)
    asyncio.run(recorder.flush())
    assert [(item.function, item.status, item.version, item.at, item.payload) for item in sink.added] == [
        ("loud", "Succeeded", "2", 1000.0, b'{"e": 1}'),
        ("loud", "Failed", "2", 1000.0, b'{"e": 1}'),
        ("loud", "Timed out", "2", 1000.0, b'{"e": 1}'),
    ]


def test_a_failed_write_keeps_the_recordings_for_the_next_flush() -> None:
    sink = Sink(failing=True)
    recorder = EventRecorder(sink, ManualClock(0.0))  # type: ignore[arg-type]
    recorder.invoked(*_call("loud", ON), 1)
    with pytest.raises(OSError):
        asyncio.run(recorder.flush())
    sink.failing = False
    asyncio.run(recorder.flush())
    assert len(sink.added) == 1


def test_pruning_follows_each_functions_policy() -> None:
    calls: list[tuple[str, Any]] = []

    class Store:
        async def functions(self) -> list[str]:
            return ["kept", "gone", "stopped"]

        async def prune(self, function: str, before: float, max_bytes: int) -> None:
            calls.append(("prune", (function, before, max_bytes)))

        async def forget(self, function: str) -> None:
            calls.append(("forget", function))

    configs = {
        "kept": SimpleNamespace(
            environment={**ON, "LAMINA_RECORD_EVENTS_HOURS": "1", "LAMINA_RECORD_EVENTS_MB": "2"}
        ),
        "stopped": SimpleNamespace(environment={}),
    }
    asyncio.run(prune_recordings(Store(), configs.get, now=10_000.0))  # type: ignore[arg-type]
    assert calls == [
        ("prune", ("kept", 10_000.0 - 3600, 2 * 1024 * 1024)),
        ("forget", "gone"),
        ("prune", ("stopped", 10_000.0 - 24 * 3600, 16 * 1024 * 1024)),
    ]
