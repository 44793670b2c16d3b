"""`bench/engine.py --quick` runs end to end and reports every section with real numbers.

Slow (about half a minute, several servers): not in the default run; `pytest -m slow` runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.runtimes import node_runtime

ROOT = Path(__file__).resolve().parents[2]
TARGETS = 14  # bench/support/report.py: the engine's targets, the workers section's two with them


def _quick_run(script: str, timeout: float) -> dict[str, Any]:
    """The benchmark's --quick run, its JSON document (--json-only: the document and nothing else)."""
    completed = subprocess.run(
        [sys.executable, script, "--quick", "--json-only"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return dict(json.loads(completed.stdout))


def _positive(document: dict[str, Any], *path: str | int) -> None:
    value: Any = document
    for key in path:
        value = value[key]
    assert isinstance(value, int | float) and value > 0, f"{'.'.join(map(str, path))} = {value!r}"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_quick_engine_benchmark_reports_every_section() -> None:
    results = _quick_run("bench/engine.py", timeout=200)

    assert results["machine"]["cores"] >= 1
    assert results["server"]["health"]["status"] == "ok"
    assert results["client"]["chosen"] in ("threads", "processes")
    for section, baseline in (("cold_start", "spawn_baseline"), ("warm_invoke", "echo_baseline")):
        for key in ("median_ms", "p99_ms"):
            _positive(results, section, key)
            _positive(results, section, baseline, key)
    _positive(results, "cold_start", "ratio_vs_spawn")
    _positive(results, "warm_invoke", "ratio_vs_echo")
    if node_runtime() is not None:  # Node.js: next to `node -e 0`, and to Python's warm calls
        _positive(results, "node", "cold_start", "ratio_vs_spawn")
        _positive(results, "node", "warm_invoke", "ratio_vs_python")
    else:
        assert "note" in results["node"]
    assert set(results["throughput"]) == {"1", "8", "32"}
    for clients in results["throughput"]:
        _positive(results, "throughput", clients, "invoke", "per_second")
        _positive(results, "throughput", clients, "echo", "per_second")
        _positive(results, "throughput", clients, "ratio_vs_echo")
    for key in (
        "environments_found",
        "pss_per_environment_median_kib",
        "rss_per_environment_median_kib",
        "environments_per_gib",
    ):
        _positive(results, "density", key)
    _positive(results, "burst", "new_environments_per_second")
    _positive(results, "burst", "new_environments_per_second_per_core")
    steps = results["scaling"]["steps"]
    assert [step["functions"] for step in steps] == results["plan"]["scaling_functions"]
    for index in range(len(steps)):
        _positive(results, "scaling", "steps", index, "invoke", "per_second")
    workers = results["workers"]["steps"]
    assert [step["workers"] for step in workers] == results["plan"]["worker_counts"]
    for index in range(len(workers)):
        for measure in ("invoke", "echo", "burst"):
            _positive(results, "workers", "steps", index, measure, "per_second")
        _positive(results, "workers", "steps", index, "scaling_vs_linear")
    assert len(results["targets"]) == TARGETS
    assert all(isinstance(target["pass"], bool) for target in results["targets"])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_cluster_benchmark_reports_placement_scaling_and_recovery() -> None:
    results = _quick_run("bench/cluster.py", timeout=280)
    for key in ("warm_median_ms_cluster", "warm_median_ms_plain"):
        _positive(results, "placement", key)
    assert [step["nodes"] for step in results["steps"]] == [1, 2]
    for index in range(2):
        _positive(results, "steps", index, "throughput", "per_second")
    recovery = results["steps"][1]["recovery"]
    _positive(recovery, "agent_replaced_after_s")
    _positive(recovery, "rate_before_per_second")
    assert [target["name"] for target in results["targets"]] == [
        "placement added per invocation, median",
        "recovery after an agent is killed",
    ]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_shared_state_benchmark_reports_warm_costs_and_takeover() -> None:
    results = _quick_run("bench/shared_state.py", timeout=280)
    for key in ("warm_files", "warm_postgres"):
        _positive(results, key, "median_ms")
    _positive(results, "ratios", "warm_postgres_vs_files")
    assert results["takeover"]["events"] == 10
    _positive(results, "takeover", "all_delivered_after_kill_s")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_buckets_benchmark_reports_throughput_and_event_latency() -> None:
    results = _quick_run("bench/buckets.py", timeout=280)
    _positive(results, "disk_copy_mb_per_second")
    for key in ("put_per_second", "get_per_second"):
        _positive(results, "small_objects_1kb", key)
    for key in ("put_mb_per_second", "raw_unsigned_put_mb_per_second", "get_mb_per_second"):
        _positive(results, "large_objects", key)
    _positive(results, "event_to_function", "median_ms")
    assert results["event_to_function"]["count"] == 10
    assert len(results["targets"]) == 3


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_queues_benchmark_reports_message_rates() -> None:
    results = _quick_run("bench/queues.py", timeout=280)
    for key in (
        "baseline_signed_calls_per_second",
        "send_messages_per_second",
        "send_batch_messages_per_second",
        "receive_delete_messages_per_second",
    ):
        _positive(results, key)
    _positive(results, "ratios", "send_vs_signed_call")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_event_sources_benchmark_reports_latencies_rates_and_firing() -> None:
    results = _quick_run("bench/event_sources.py", timeout=280)
    for key in ("send_message_baseline", "put_events_rule_target", "publish_topic_subscription"):
        _positive(results, "latency_to_queue", key, "median_ms")
        assert results["latency_to_queue"][key]["count"] == 20
    for key in ("send_message_per_second", "publish_per_second"):
        _positive(results, "throughput", key)
    assert results["schedule_firing"]["fire_times"] == 50 * 60
    _positive(results, "schedule_firing", "fires_per_second")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_quick_dev_loop_benchmark_reports_save_to_new_code() -> None:
    results = _quick_run("bench/dev_loop.py", timeout=200)
    for key in ("lamina_dev", "update_function_code_by_hand"):
        _positive(results, "save_to_new_code_ms", key, "median_ms")
        assert results["save_to_new_code_ms"][key]["count"] == 5
    _positive(results, "ratios", "lamina_dev_vs_by_hand_median")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_quick_recording_benchmark_compares_recorded_and_plain_invocations() -> None:
    results = _quick_run("bench/recording.py", timeout=200)
    for name in ("plain", "recorded"):
        _positive(results, name, "median_ms")
        assert results[name]["count"] == 40
    _positive(results, "ratio_recorded_vs_plain")


@pytest.mark.timeout(660)
def test_the_gpu_benchmark_measures_where_a_gpu_is_and_says_why_not_elsewhere() -> None:
    results = _quick_run("bench/gpu.py", timeout=600)
    if "skipped" in results:  # this machine: no GPU, or no torch that can use one
        assert results["skipped"].startswith(("no GPU here", "no interpreter", "Lamina found no GPU"))
        return
    for key in (
        "cold_start_ms",
        "baseline_cold_ms",
        "warm_median_ms",
        "baseline_matmul_ms",
        "tflops_bf16_8192",
    ):
        _positive(results, key)
    assert results["isolation"]["devices_seen_without_a_grant"] == 0
    assert results["report_gpu_memory"].startswith("GPU Memory Used: ")
