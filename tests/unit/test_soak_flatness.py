"""The soak's flatness verdicts (bench/support/flatness.py): medians each side of the warm-up,
relative growth plus absolute slack, CPU per operation from counter differences."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench.support.flatness import cpu_per_operation_ms, evaluate, split
from bench.support.sampling import Sample

BASE = Sample(
    elapsed_s=0.0,
    operations=0,
    server_rss_kib=100 * 1024,
    tree_rss_kib=200 * 1024,
    server_fds=50,
    server_threads=10,
    children=4,
    zombies=0,
    server_cpu_s=0.0,
    tree_cpu_s=0.0,
    code_folders=1,
    code_blobs=1,
)


def _run(**growth_per_sample: float) -> list[Sample]:
    """Twenty samples 5 s apart, 20 operations and 0.04 CPU seconds per window (2 ms each), each
    named field growing by its given amount per sample."""
    samples = []
    for index in range(20):
        changes: dict[str, Any] = {"elapsed_s": index * 5.0, "operations": index * 20}
        changes["server_cpu_s"] = changes["tree_cpu_s"] = round(index * 0.04, 6)
        for name, step in growth_per_sample.items():
            changes[name] = type(getattr(BASE, name))(getattr(BASE, name) + step * index)
        samples.append(replace(BASE, **changes))
    return samples


def _verdict(verdicts: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(verdict for verdict in verdicts if verdict["name"] == name)


def test_a_steady_server_passes_every_criterion() -> None:
    verdicts = evaluate(_run(), warmup_s=20)
    assert all(verdict["pass"] for verdict in verdicts), verdicts
    assert _verdict(verdicts, "server RSS")["growth_percent"] == 0.0
    assert _verdict(verdicts, "server CPU per operation")["after_warmup"] == 2.0


def test_memory_that_keeps_growing_fails_and_growth_is_measured_from_the_warm_up() -> None:
    verdicts = evaluate(_run(server_rss_kib=2048), warmup_s=20)  # 2 MiB per sample
    rss = _verdict(verdicts, "server RSS")
    assert not rss["pass"]
    # Medians of the first three samples after the warm-up (20-30 s) and of the last three.
    assert rss["after_warmup"] == 100 + 2 * 5
    assert rss["final"] == 100 + 2 * 18
    assert _verdict(verdicts, "threads")["pass"]


def test_descriptors_growing_past_the_slack_fail_but_noise_within_it_passes() -> None:
    assert not _verdict(evaluate(_run(server_fds=1), warmup_s=20), "open descriptors")["pass"]
    noisy = _run()
    noisy[-1] = replace(noisy[-1], server_fds=BASE.server_fds + 9)  # one outlier among the last three
    assert _verdict(evaluate(noisy, warmup_s=20), "open descriptors")["pass"]


def test_cpu_per_operation_is_cpu_over_operations_in_each_window() -> None:
    samples = _run()
    slower = [
        replace(sample, server_cpu_s=sample.server_cpu_s * (1 if sample.elapsed_s < 50 else 3))
        for sample in samples
    ]
    assert cpu_per_operation_ms(samples[:3]) == [2.0, 2.0]
    assert not _verdict(evaluate(slower, warmup_s=20), "server CPU per operation")["pass"]
    idle = [replace(sample, operations=0) for sample in samples[:3]]
    assert cpu_per_operation_ms(idle) == [None, None]


def test_too_few_samples_after_the_warm_up_is_no_verdict_rather_than_a_pass() -> None:
    samples = _run()
    assert split(samples, warmup_s=1000) == ([], [])
    assert not any(verdict["pass"] for verdict in evaluate(samples, warmup_s=1000))
