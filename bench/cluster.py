"""The Ray cluster benchmark (issue 15): one command, in-run baselines, JSON and a table.

    python bench/cluster.py            # a few minutes on 2 cores
    python bench/cluster.py --quick    # about a minute

On this machine (several raylets, Ray's own cluster_utils, in a helper process) it measures:
- placement: the median latency of a warm invocation through `lamina server --cluster` against the
  same invocation on a plain server in the same run (the difference is what placement on an agent
  and the trip to it add; goal ≤ 1 ms);
- throughput with 1, 2 and 4 nodes, from 8 clients, against the plain server's in the same run;
- recovery: with load running on two nodes, one node's agent is SIGKILLed; the time until a new
  agent serves on that node, and until throughput is back to what it was (goal ≤ 3 s).
A 2-core machine shares its cores between the nodes, the gateway and the load, so more nodes do
not add throughput here; the same script on a machine with many cores shows the scaling.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.packaging import make_zip
from tests.support.ray_cluster import ray_cluster
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer, running_server

from bench.support.client import HELLO_MARKER, HELLO_SOURCE, SignedClient, invoke_path
from bench.support.load import run_load
from bench.support.output import emit
from bench.support.stats import ratio
from bench.support.workloads import same_request_scripts

CREDENTIALS = (ACCESS_KEY, SECRET_KEY)
HELLO_ZIP = make_zip({"app.py": HELLO_SOURCE})
SERVER_ARGUMENTS = ("--keep-alive", "3600", "--account-concurrency", "5000", "--sandbox", "process")
AGENT_SECONDS = 180.0


def log(message: str) -> None:
    print(f"[cluster] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def gateway(scratch: Path, name: str, *args: str) -> Iterator[RunningServer]:
    (scratch / name).mkdir()
    with running_server(scratch / name / "data", *SERVER_ARGUMENTS, *args) as server:
        yield server


def agents_ready(server: RunningServer) -> list[dict[str, Any]]:
    client = SignedClient(server.port, *CREDENTIALS)
    try:
        cluster = client.health().get("cluster", {})
    finally:
        client.close()
    return [agent for agent in cluster.get("agents", []) if agent.get("ready")]


def wait_agents(server: RunningServer, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + AGENT_SECONDS
    while len(ready := agents_ready(server)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(ready)} of {count} agents ever served")
        time.sleep(0.1)
    return ready


def warm_latencies(server: RunningServer, calls: int) -> list[float]:
    client = SignedClient(server.port, *CREDENTIALS)
    client.create_function("warm", HELLO_ZIP)
    for _ in range(20):
        client.timed_invoke("warm")
    latencies = [client.timed_invoke("warm") for _ in range(calls)]
    client.close()
    return latencies


def throughput(server: RunningServer, seconds: float, clients: int = 8) -> dict[str, Any]:
    client = SignedClient(server.port, *CREDENTIALS)
    client.create_function("load", HELLO_ZIP)
    request = client.signer.signed("POST", invoke_path("load"), b"{}")
    client.close()
    scripts = same_request_scripts(request, clients, HELLO_MARKER)
    run_load(server.port, scripts, duration=min(1.0, seconds), mode="threads")
    return run_load(server.port, scripts, duration=seconds, mode="threads").summary()


def recovery(server: RunningServer, seconds: float, head_node: str) -> dict[str, Any]:
    """Load in 0.25 s windows; one agent (not the head node's) is killed after the first third."""
    client = SignedClient(server.port, *CREDENTIALS)
    client.create_function("recovery", HELLO_ZIP)
    request = client.signer.signed("POST", invoke_path("recovery"), b"{}")
    client.close()
    scripts = same_request_scripts(request, 8, HELLO_MARKER)
    run_load(server.port, scripts, duration=1.0, mode="threads")  # environments on both nodes
    windows: list[tuple[float, float]] = []
    stop = threading.Event()

    def measure() -> None:
        while not stop.is_set():
            began = time.monotonic()
            result = run_load(server.port, scripts, duration=0.25, mode="threads")
            windows.append((began, result.per_second))

    loader = threading.Thread(target=measure)
    loader.start()
    time.sleep(seconds / 3)
    victim = next(agent for agent in agents_ready(server) if agent["nodeId"] != head_node)
    before = statistics.median(rate for _, rate in windows) if windows else 0.0
    killed = time.monotonic()
    os.kill(victim["pid"], signal.SIGKILL)
    replaced: float | None = None
    deadline = killed + AGENT_SECONDS
    while replaced is None and time.monotonic() < deadline:
        ready = agents_ready(server)
        if len(ready) == 2 and victim["pid"] not in {agent["pid"] for agent in ready}:
            replaced = time.monotonic() - killed
        time.sleep(0.05)
    time.sleep(max(0.0, seconds * 2 / 3 - (time.monotonic() - killed)))
    stop.set()
    loader.join()
    back = next((began - killed for began, rate in windows if began > killed and rate >= 0.9 * before), None)
    return {
        "rate_before_per_second": round(before, 1),
        "agent_replaced_after_s": None if replaced is None else round(replaced, 2),
        "throughput_back_after_s": None if back is None else round(back, 2),
        "windows": [(round(began - killed, 2), round(rate, 1)) for began, rate in windows],
    }


def run(quick: bool) -> dict[str, Any]:
    calls = 200 if quick else 1000
    seconds = 2.0 if quick else 5.0
    node_counts = (1, 2) if quick else (1, 2, 4)
    results: dict[str, Any] = {"benchmark": "lamina on a Ray cluster (issue 15)", "cores": os.cpu_count()}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lamina-bench-cluster-") as scratch_name:
        scratch = Path(scratch_name)
        with gateway(scratch, "plain") as server:
            plain_latency = warm_latencies(server, calls)
            plain_rate = throughput(server, seconds)
        log(
            f"plain server: warm median {statistics.median(plain_latency):.2f} ms, {plain_rate['per_second']:.0f}/s"
        )
        steps = []
        for nodes in node_counts:
            with (
                ray_cluster(nodes=nodes) as cluster,
                gateway(scratch, f"nodes-{nodes}", "--cluster", cluster.address) as server,
            ):
                wait_agents(server, nodes)
                step: dict[str, Any] = {"nodes": nodes, "throughput": throughput(server, seconds)}
                if nodes == 1:
                    step["warm_latencies_ms"] = warm_latencies(server, calls)
                if nodes == 2:
                    step["recovery"] = recovery(server, 3 * seconds, cluster.node_ids[0])
                steps.append(step)
                log(f"{nodes} node(s): {step['throughput']['per_second']:.0f} invocations/s")
    one_node = steps[0]
    cluster_median = statistics.median(one_node.pop("warm_latencies_ms"))
    plain_median = statistics.median(plain_latency)
    results["placement"] = {
        "warm_median_ms_cluster": round(cluster_median, 3),
        "warm_median_ms_plain": round(plain_median, 3),
        "added_ms": round(cluster_median - plain_median, 3),
    }
    results["plain_throughput"] = plain_rate
    for step in steps:
        step["ratio_vs_plain"] = ratio(step["throughput"]["per_second"], plain_rate["per_second"])
    results["steps"] = steps
    recovered = next((step["recovery"] for step in steps if "recovery" in step), {})
    results["targets"] = [
        {
            "name": "placement added per invocation, median",
            "value": results["placement"]["added_ms"],
            "target": "≤ 1 ms",
            "pass": results["placement"]["added_ms"] <= 1.0,
        },
        {
            "name": "recovery after an agent is killed",
            "value": recovered.get("throughput_back_after_s"),
            "target": "≤ 3 s",
            "pass": (recovered.get("throughput_back_after_s") or 99) <= 3.0,
        },
    ]
    results["duration_s"] = round(time.monotonic() - started, 1)
    return results


def render_table(results: dict[str, Any]) -> str:
    placement = results["placement"]
    lines = [
        f"Lamina on a Ray cluster, {results['cores']} cores, {results['duration_s']} s",
        "",
        f"{'measure':<44}{'cluster':>14}{'baseline':>18}{'ratio':>10}",
        f"{'warm invoke median ms (1 node vs plain)':<44}{placement['warm_median_ms_cluster']:>14.3f}"
        f"{placement['warm_median_ms_plain']:>18.3f}{'+' + format(placement['added_ms'], '.3f') + ' ms':>10}",
    ]
    plain = results["plain_throughput"]["per_second"]
    for step in results["steps"]:
        lines.append(
            f"{'invocations/s, ' + str(step['nodes']) + ' node(s), 8 clients':<44}"
            f"{step['throughput']['per_second']:>14.0f}{'plain ' + format(plain, '.0f'):>18}"
            f"{format(step['ratio_vs_plain'] or 0, '.2f') + '×':>10}"
        )
        if "recovery" in step:
            recovered = step["recovery"]
            lines.append(
                f"{'agent killed: replaced after / throughput back':<44}"
                f"{str(recovered['agent_replaced_after_s']) + ' s':>14}{str(recovered['throughput_back_after_s']) + ' s':>18}"
            )
    lines.append("")
    for target in results["targets"]:
        lines.append(
            f"{'PASS' if target['pass'] else 'MISS'}  {target['name']}: {target['value']} ({target['target']})"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json-only", action="store_true")
    parser.add_argument("--output", type=Path)
    options = parser.parse_args(argv)
    emit(run(options.quick), render_table, options.output, options.json_only)


if __name__ == "__main__":
    main()
