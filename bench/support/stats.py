"""Summaries of latency samples."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted samples."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Median, p99 and max in milliseconds, and the sample count."""
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(percentile(ordered, 0.99), 3),
        "max_ms": round(ordered[-1], 3),
        "count": len(ordered),
    }


def ratio(numerator: float | None, denominator: float | None, digits: int = 2) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


def time_spawn(interpreter: str = sys.executable) -> float:
    """Milliseconds to start and reap the bare interpreter the functions' python3.X runtime uses
    (isolated, no site): the floor for a cold start that execs a new process."""
    started = time.perf_counter()
    subprocess.run([interpreter, "-I", "-S", "-c", "pass"], check=True)
    return (time.perf_counter() - started) * 1000


def time_command(argv: list[str]) -> float:
    """Milliseconds to start and reap `argv` (e.g. a bare `node -e 0`: the floor for a Node cold
    start that execs a new process)."""
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    return (time.perf_counter() - started) * 1000
