"""Recorded invocations (beyond AWS): a function that opts in keeps its invocations' events, so
the console can re-run or save any of them (debugging a production failure with its exact input).

A function opts in with its environment: LAMINA_RECORD_EVENTS=on; LAMINA_RECORD_EVENTS_HOURS
(default 24, at most 720) says how long a recording is kept, LAMINA_RECORD_EVENTS_MB (default 16,
at most 1024) how much the function's recordings may hold; the oldest go first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "RECORD_VARIABLE",
    "RecordedInvocation",
    "RecordingPolicy",
    "recording_policy",
]

RECORD_VARIABLE = "LAMINA_RECORD_EVENTS"
HOURS_VARIABLE = "LAMINA_RECORD_EVENTS_HOURS"
MB_VARIABLE = "LAMINA_RECORD_EVENTS_MB"
DEFAULT_HOURS, MAX_HOURS = 24.0, 720.0
DEFAULT_MB, MAX_MB = 16, 1024
SUCCEEDED, FAILED, TIMED_OUT = "Succeeded", "Failed", "Timed out"


@dataclass(frozen=True, slots=True)
class RecordingPolicy:
    hours: float
    max_bytes: int


def _number(text: str | None, default: float, ceiling: float) -> float:
    try:
        value = float(text) if text is not None else default
    except ValueError:
        return default
    return min(max(value, 0.0), ceiling) if value == value else default  # NaN: the default


def recording_policy(environment: Mapping[str, str]) -> RecordingPolicy | None:
    """The function's recording policy; None when it does not record (the usual case, decided by
    one lookup on the invocation path)."""
    if environment.get(RECORD_VARIABLE, "").strip().lower() not in ("on", "true", "1"):
        return None
    hours = _number(environment.get(HOURS_VARIABLE), DEFAULT_HOURS, MAX_HOURS)
    megabytes = _number(environment.get(MB_VARIABLE), DEFAULT_MB, MAX_MB)
    return RecordingPolicy(hours, int(megabytes * 1024 * 1024))


@dataclass(frozen=True, slots=True)
class RecordedInvocation:
    function: str
    request_id: str
    at: float  # epoch seconds, when it finished
    version: str  # the version that ran
    status: str  # SUCCEEDED, FAILED or TIMED_OUT
    duration_ms: float
    payload: bytes  # the event; empty in listings
    size: int = 0  # the event's size in bytes
