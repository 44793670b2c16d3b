"""Keep-alive policies compared on a synthetic Azure-Functions-like trace, in simulated time.

The trace (seeded, nothing downloaded) mimics the shapes "Serverless in the Wild" (Shahrad et al.,
ATC'20) reports for Azure Functions: timers every 5, 15 or 60 minutes with a little jitter, bursty
functions (bursts of calls seconds apart, hours apart), frequent functions (Poisson arrivals) and
rare ones (a few calls a day); MemorySize 128 MB to 1 GB; lognormal durations.

It is replayed through the policy classes the pool uses (`lamina.execution.pool.keep_alive`) and a
model of the pool: one environment per function that costs its MemorySize while loaded; after the
last running invocation ends it stays loaded as the policy's windows say (pre-warm 0: for the
keep-alive window; otherwise unloaded at once and loaded again for the keep-alive window after the
pre-warm window). A call that finds it loaded is warm; a call that overlaps a running one is
counted warm too (the model does not scale out). No sleeping: time is simulated.

Reported per policy: cold-start rate (% of invocations that were cold), the 75th percentile of the
per-function cold-start rate (the paper's measure), and memory wasted while idle (environment-minutes
and GB-minutes loaded but not running). Policies: fixed 10 minutes (AWS's practice, the baseline),
fixed at the keep-alive that wastes as much memory as the adaptive policy (found by bisection),
and adaptive (the hybrid histogram policy, falling back to 10 minutes).

Run: `python bench/keep_alive_policies.py [--functions 200 --hours 24 --seed 1]`.
"""

from __future__ import annotations

import argparse
import collections
import heapq
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lamina.execution.pool.keep_alive import (
    FixedKeepAlive,
    HybridHistogramKeepAlive,
    KeepAlivePolicy,
)

MINUTE = 60.0
HOUR = 3600.0
KINDS = ("periodic", "bursty", "frequent", "rare")
KIND_WEIGHTS = (0.30, 0.25, 0.15, 0.30)
MEMORY_SIZES = ((128, 0.5), (256, 0.25), (512, 0.15), (1024, 0.10))


# the trace ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TracedFunction:
    name: str
    kind: str
    memory_mb: int
    invocations: tuple[tuple[float, float], ...]  # (start, duration) in seconds, by start


def _durations(rng: random.Random) -> Callable[[], float]:
    median = rng.uniform(0.1, 2.0)
    return lambda: min(60.0, rng.lognormvariate(math.log(median), 0.8))


def _periodic(rng: random.Random, horizon: float) -> list[float]:
    period = rng.choice((5 * MINUTE, 15 * MINUTE, 60 * MINUTE))
    jitter = rng.uniform(1.0, 20.0)
    start = rng.uniform(0, period)
    return [
        start + k * period + rng.uniform(-jitter, jitter) for k in range(int((horizon - start) // period))
    ]


def _bursty(rng: random.Random, horizon: float) -> list[float]:
    mean_gap = rng.uniform(20 * MINUTE, 3 * HOUR)
    mean_inside = rng.uniform(2.0, 20.0)
    mean_size = rng.uniform(3, 30)
    times: list[float] = []
    moment = rng.expovariate(1 / mean_gap)
    while moment < horizon:
        for _ in range(1 + int(rng.expovariate(1 / mean_size))):
            times.append(moment)
            moment += rng.expovariate(1 / mean_inside)
        moment += rng.expovariate(1 / mean_gap)
    return times


def _frequent(rng: random.Random, horizon: float) -> list[float]:
    mean = rng.uniform(10.0, 3 * MINUTE)
    times, moment = [], rng.expovariate(1 / mean)
    while moment < horizon:
        times.append(moment)
        moment += rng.expovariate(1 / mean)
    return times


def _rare(rng: random.Random, horizon: float) -> list[float]:
    return [rng.uniform(0, horizon) for _ in range(rng.randint(1, 12))]


GENERATORS: dict[str, Callable[[random.Random, float], list[float]]] = {
    "periodic": _periodic,
    "bursty": _bursty,
    "frequent": _frequent,
    "rare": _rare,
}


def generate_trace(functions: int, horizon: float, seed: int) -> list[TracedFunction]:
    rng = random.Random(seed)
    sizes, size_weights = zip(*MEMORY_SIZES, strict=True)
    trace = []
    for index in range(functions):
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
        duration = _durations(rng)
        starts = sorted(moment for moment in GENERATORS[kind](rng, horizon) if 0 <= moment < horizon)
        trace.append(
            TracedFunction(
                f"{kind}-{index:03d}",
                kind,
                rng.choices(sizes, size_weights)[0],
                tuple((start, duration()) for start in starts),
            )
        )
    return trace


# the simulated pool -----------------------------------------------------------------------------
@dataclass(slots=True)
class FunctionOutcome:
    kind: str
    invocations: int = 0
    cold: int = 0
    idle_seconds: float = 0.0
    idle_mb_seconds: float = 0.0


@dataclass(slots=True)
class Outcome:
    functions: list[FunctionOutcome] = field(default_factory=list)

    def summary(self, kinds: tuple[str, ...] | None = None) -> dict[str, float]:
        chosen = [f for f in self.functions if kinds is None or f.kind in kinds]
        invocations = sum(f.invocations for f in chosen)
        cold = sum(f.cold for f in chosen)
        per_function = sorted(100 * f.cold / f.invocations for f in chosen if f.invocations)
        return {
            "invocations": invocations,
            "cold_starts": cold,
            "cold_start_percent": round(100 * cold / invocations, 2) if invocations else 0.0,
            "function_cold_start_percent_p75": round(_percentile(per_function, 75), 1),
            "idle_environment_minutes": round(sum(f.idle_seconds for f in chosen) / MINUTE, 1),
            "idle_gb_minutes": round(sum(f.idle_mb_seconds for f in chosen) / MINUTE / 1024, 1),
        }


def _percentile(values: list[float], percent: float) -> float:
    """Nearest rank over sorted `values`."""
    if not values:
        return 0.0
    return values[max(0, math.ceil(percent / 100 * len(values)) - 1)]


def _idle_until_next(
    policy: KeepAlivePolicy, key: tuple[str, str], last_end: float, next_start: float
) -> tuple[bool, float]:
    """(warm at `next_start`?, seconds loaded but idle in between), per the policy's windows."""
    windows = policy.windows(key)
    loaded_from = last_end + windows.prewarm_seconds
    loaded_until = last_end + windows.unload_after_seconds
    warm = loaded_from <= next_start < loaded_until
    idle = max(0.0, min(next_start, loaded_until) - loaded_from)
    return warm, idle


def simulate_function(function: TracedFunction, policy: KeepAlivePolicy, horizon: float) -> FunctionOutcome:
    """The pool's calls, in time order: record_invocation at each start, record_completion at each
    end; the windows after the last running invocation ends decide the next call's fate."""
    key = (function.name, "$LATEST")
    outcome = FunctionOutcome(function.kind)
    running: list[float] = []  # ends of running invocations (a heap)
    last_end: float | None = None  # when the function last went idle

    def complete_until(moment: float) -> None:
        nonlocal last_end
        while running and running[0] <= moment:
            end = heapq.heappop(running)
            policy.record_completion(key, end)
            if not running:
                last_end = end

    for start, duration in function.invocations:
        complete_until(start)
        outcome.invocations += 1
        if running:
            pass  # overlaps a running invocation: served warm by the model
        elif last_end is None:
            outcome.cold += 1
        else:
            warm, idle = _idle_until_next(policy, key, last_end, start)
            outcome.cold += not warm
            outcome.idle_seconds += idle
        policy.record_invocation(key, start)
        heapq.heappush(running, start + duration)
    complete_until(math.inf)
    if last_end is not None and last_end < horizon:
        _, idle = _idle_until_next(policy, key, last_end, horizon)
        outcome.idle_seconds += idle
    outcome.idle_mb_seconds = outcome.idle_seconds * function.memory_mb
    return outcome


def simulate(trace: list[TracedFunction], policy: KeepAlivePolicy, horizon: float) -> Outcome:
    return Outcome([simulate_function(function, policy, horizon) for function in trace])


def equal_memory_keep_alive(trace: list[TracedFunction], horizon: float, target_gb_minutes: float) -> float:
    """The fixed keep-alive wasting as much idle memory as `target_gb_minutes` (it grows with the
    keep-alive, so bisection finds it)."""
    low, high = 0.0, horizon
    for _ in range(30):
        middle = (low + high) / 2
        wasted = simulate(trace, FixedKeepAlive(middle), horizon).summary()["idle_gb_minutes"]
        if wasted < target_gb_minutes:
            low = middle
        else:
            high = middle
    return round((low + high) / 2, 1)


# report -----------------------------------------------------------------------------------------
def run(functions: int, hours: float, seed: int, keep_alive: float) -> dict[str, Any]:
    horizon = hours * HOUR
    trace = generate_trace(functions, horizon, seed)
    hybrid = HybridHistogramKeepAlive(keep_alive)
    adaptive = simulate(trace, hybrid, horizon)
    patterns = collections.Counter(hybrid.pattern((function.name, "$LATEST")) for function in trace)
    equal = equal_memory_keep_alive(trace, horizon, adaptive.summary()["idle_gb_minutes"])
    outcomes = {
        f"fixed {keep_alive / MINUTE:g} min": simulate(trace, FixedKeepAlive(keep_alive), horizon),
        f"fixed {equal / MINUTE:.1f} min (equal memory)": simulate(trace, FixedKeepAlive(equal), horizon),
        "adaptive (hybrid histogram)": adaptive,
    }
    return {
        "trace": {
            "seed": seed,
            "hours": hours,
            "functions": {kind: sum(f.kind == kind for f in trace) for kind in KINDS},
            "invocations": sum(len(f.invocations) for f in trace),
        },
        "equal_memory_fixed_keep_alive_seconds": equal,
        "adaptive_patterns_at_end": dict(sorted(patterns.items())),
        "policies": {
            name: {"all": outcome.summary(), **{kind: outcome.summary((kind,)) for kind in KINDS}}
            for name, outcome in outcomes.items()
        },
    }


def table(results: dict[str, Any]) -> str:
    header = f"{'policy':<32} {'cold %':>7} {'p75 fn cold %':>14} {'idle env-min':>13} {'idle GB-min':>12}"
    lines = [header, "-" * len(header)]
    for name, by_kind in results["policies"].items():
        overall = by_kind["all"]
        lines.append(
            f"{name:<32} {overall['cold_start_percent']:>7.2f} "
            f"{overall['function_cold_start_percent_p75']:>14.1f} "
            f"{overall['idle_environment_minutes']:>13.0f} {overall['idle_gb_minutes']:>12.0f}"
        )
    lines.append("")
    lines.append(f"{'cold-start % by kind':<32} " + " ".join(f"{kind:>9}" for kind in KINDS))
    for name, by_kind in results["policies"].items():
        cells = " ".join(f"{by_kind[kind]['cold_start_percent']:>9.2f}" for kind in KINDS)
        lines.append(f"{name:<32} {cells}")
    trace = results["trace"]
    lines.append("")
    lines.append(
        f"trace: {sum(trace['functions'].values())} functions {trace['functions']}, "
        f"{trace['invocations']} invocations over {trace['hours']:g} h (seed {trace['seed']}); "
        f"adaptive rules at the end: {results['adaptive_patterns_at_end']}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--functions", type=int, default=200)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-alive", type=float, default=600.0, help="fixed keep-alive, seconds")
    arguments = parser.parse_args()
    results = run(arguments.functions, arguments.hours, arguments.seed, arguments.keep_alive)
    print(json.dumps(results, indent=2))
    print()
    print(table(results))


if __name__ == "__main__":
    main()
