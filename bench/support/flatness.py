"""Is a soak run flat? Growth of each resource from the end of the warm-up to the end of the run.

A server that leaks shows it as growth under steady load once caches, pools and allocator arenas
have filled (the warm-up). Single samples are noisy (garbage collection, an environment starting
at the moment of the sample), so each side is the median of a few samples: the first ones after
the warm-up against the last ones under load. Every criterion allows a relative growth plus an
absolute slack, because 10 % of 12 threads is not a whole thread and 10 % of a small RSS is within
the noise of one allocator arena.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.support.sampling import Sample

SAMPLES_EACH_SIDE = 3


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    unit: str
    measure: Callable[[Sample], float]
    relative: float  # allowed growth, as a fraction of the warm-up value
    absolute: float  # plus this much, in `unit`


CRITERIA = (
    Criterion("server RSS", "MiB", lambda sample: sample.server_rss_kib / 1024, 0.10, 8),
    Criterion("RSS with descendants", "MiB", lambda sample: sample.tree_rss_kib / 1024, 0.10, 24),
    Criterion("open descriptors", "", lambda sample: sample.server_fds, 0.10, 6),
    Criterion("threads", "", lambda sample: sample.server_threads, 0.10, 2),
    Criterion("child processes", "", lambda sample: sample.children, 0.10, 3),
)
# CPU per operation is a ratio of two counts, not a timing; scheduling noise on a shared machine
# still moves it, so it gets far more room than memory does.
CPU_PER_OPERATION_GROWTH = 0.5


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def split(samples: Sequence[Sample], warmup_s: float) -> tuple[list[Sample], list[Sample]]:
    """(the first samples after the warm-up, the last samples), SAMPLES_EACH_SIDE each, apart."""
    after = [sample for sample in samples if sample.elapsed_s >= warmup_s]
    if len(after) < 2:
        return [], []
    each = max(1, min(SAMPLES_EACH_SIDE, len(after) // 2))
    return after[:each], after[-each:]


def cpu_per_operation_ms(samples: Sequence[Sample], *, tree: bool = False) -> list[float | None]:
    """Milliseconds of server CPU per operation completed, in each window between two samples."""
    windows: list[float | None] = []
    for before, after in itertools.pairwise(samples):
        operations = after.operations - before.operations
        cpu = (after.tree_cpu_s - before.tree_cpu_s) if tree else (after.server_cpu_s - before.server_cpu_s)
        windows.append(round(cpu * 1000 / operations, 3) if operations > 0 else None)
    return windows


def _cpu_per_operation_over(samples: Sequence[Sample]) -> float | None:
    """Milliseconds of server CPU per operation from the first sample to the last."""
    operations = samples[-1].operations - samples[0].operations
    if operations <= 0:
        return None
    return round((samples[-1].server_cpu_s - samples[0].server_cpu_s) * 1000 / operations, 3)


def evaluate(samples: Sequence[Sample], warmup_s: float) -> list[dict[str, Any]]:
    """One verdict per criterion: the warm-up-end and final values, growth, the limit, pass."""
    early, late = split(samples, warmup_s)
    verdicts = []
    for criterion in CRITERIA:
        baseline = _median([criterion.measure(sample) for sample in early])
        final = _median([criterion.measure(sample) for sample in late])
        limit = None if baseline is None else baseline * (1 + criterion.relative) + criterion.absolute
        verdicts.append(
            _verdict(
                criterion.name,
                criterion.unit,
                baseline,
                final,
                limit,
                f"+{criterion.relative:.0%} + {criterion.absolute:g}",
            )
        )
    after = [sample for sample in samples if sample.elapsed_s >= warmup_s]
    # The first and the last third of the run after the warm-up, each as one ratio of CPU to
    # operations: single windows of a few seconds swing by a third on a busy machine.
    span = max(SAMPLES_EACH_SIDE, len(after) // 3)
    baseline = _cpu_per_operation_over(after[: span + 1]) if len(after) > span else None
    final = _cpu_per_operation_over(after[-span - 1 :]) if len(after) > span else None
    limit = None if baseline is None else baseline * (1 + CPU_PER_OPERATION_GROWTH)
    verdicts.append(
        _verdict("server CPU per operation", "ms", baseline, final, limit, f"+{CPU_PER_OPERATION_GROWTH:.0%}")
    )
    return verdicts


def _verdict(
    name: str, unit: str, baseline: float | None, final: float | None, limit: float | None, allowed: str
) -> dict[str, Any]:
    growth = None
    if baseline is not None and final is not None and baseline > 0:
        growth = round(100 * (final - baseline) / baseline, 1)
    return {
        "name": name,
        "unit": unit,
        "after_warmup": None if baseline is None else round(baseline, 3),
        "final": None if final is None else round(final, 3),
        "growth_percent": growth,
        "allowed": allowed,
        "limit": None if limit is None else round(limit, 3),
        "pass": baseline is not None and final is not None and limit is not None and final <= limit,
    }
