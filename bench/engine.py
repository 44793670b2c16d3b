"""The execution-engine benchmark (Lamina issue 3): one command, in-run baselines, JSON and a table.

    python bench/engine.py            # a few minutes on 2 cores
    python bench/engine.py --quick    # under a minute, small counts (the smoke test runs this)

Starts real `lamina server` processes (one per section, so sections do not disturb each other) on
127.0.0.1 and measures, with a lean SigV4-signed keep-alive client (`bench/support/`):
- cold start: the first invocation of each new Python hello-world function, next to spawning
  `python3 -I -S -c pass` with the server's own interpreter;
- Node.js (where the host has node): the same hello world's cold start next to spawning a bare
  `node -e 0`, and its warm latency next to the Python function's;
- warm invocation: sequential invocations of one function, next to the round trip of the
  unauthenticated echo endpoint (`GET /_lamina/health`) on the same server stack;
- throughput: invocations per second from 1, 8 and 32 concurrent clients (each its own
  connection), next to the echo endpoint at the same concurrency;
- density: PSS of idle warm environments (the server's descendant processes), per environment
  and per GiB;
- burst: new environments per second per core when 8 clients invoke many new functions at once;
- scaling: throughput from 8 clients spread round-robin over 1 to 1,000 functions;
- workers: `--workers N` for N = 1, 2, 4, ... up to the core count: throughput next to the ping
  endpoint served by the same N processes, scaling against linear, and a cold-start burst
  (bench/support/workers.py).
Every phase is bounded in time and in requests; the servers are stopped at the end. Prints one
JSON document, then a table with ratios against the baselines and the issue's targets.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.packaging import make_zip
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer, running_server

from bench.support import procfs
from bench.support.client import (
    HEALTH_PATH,
    HELLO_MARKER,
    HELLO_SOURCE,
    OWN_RUNTIME,
    SignedClient,
    create_functions,
    invoke_path,
)
from bench.support.load import CLIENT_MODES, ClientMode, LoadResult, run_load
from bench.support.output import emit
from bench.support.report import evaluate_targets, render_table
from bench.support.stats import ratio, summarize, time_command, time_spawn
from bench.support.workers import worker_counts, workers_section
from bench.support.workloads import (
    measured_load,
    one_each_scripts,
    round_robin_scripts,
    same_request_scripts,
)

CREDENTIALS = (ACCESS_KEY, SECRET_KEY)
HELLO_ZIP = make_zip({"app.py": HELLO_SOURCE})
NODE_HELLO_ZIP = make_zip({"app.js": "exports.handler = async () => ({ hello: 'world' });\n"})
GIB_KIB = 1024 * 1024
# Assumed PSS of one environment when the density section did not measure it (scaling's memory guard).
FALLBACK_ENVIRONMENT_KIB = 16 * 1024
# Idle environments stay warm for the whole run; the account limit is far above what the
# benchmark's clients can have in flight, so a 429 means the engine refused, not the quota.
SERVER_ARGUMENTS = ("--keep-alive", "3600", "--account-concurrency", "5000")
POOL_FIELDS = ("environments", "idleEnvironments", "busyEnvironments", "memoryUsedMb", "memoryBudgetMb")


@dataclass(frozen=True, slots=True)
class Plan:
    """How much each section does, and on which Python runtime; every count and duration is an
    upper bound of its phase."""

    cold_functions: int
    warm_calls: int
    load_seconds: float  # each measured load run
    warmup_seconds: float  # each unmeasured load run that precedes a measured one
    concurrencies: tuple[int, ...]
    density_environments: int
    burst_functions: int
    burst_clients: int
    scaling_functions: tuple[int, ...]
    scaling_clients: int
    setup_seconds: float  # creating or first-invoking a batch of functions
    calibration_rounds: int  # echo runs per client mode when choosing threads or processes
    # The workers section's worker counts; empty: 1, 2, 4, ... up to the core count.
    worker_counts: tuple[int, ...] = ()
    runtime: str = OWN_RUNTIME  # the hello-world functions' Runtime
    interpreter: str = os.path.realpath(sys.executable)  # that runtime's python: the spawn baseline


DEFAULT_PLAN = Plan(
    cold_functions=30,
    warm_calls=1000,
    load_seconds=3.0,
    warmup_seconds=1.0,
    concurrencies=(1, 8, 32),
    density_environments=50,
    burst_functions=200,
    burst_clients=8,
    scaling_functions=(1, 10, 100, 1000),
    scaling_clients=8,
    setup_seconds=180.0,
    calibration_rounds=2,
)
QUICK_PLAN = Plan(
    cold_functions=5,
    warm_calls=200,
    load_seconds=1.0,
    warmup_seconds=0.3,
    concurrencies=(1, 8, 32),
    density_environments=6,
    burst_functions=16,
    burst_clients=8,
    scaling_functions=(1, 10, 20),
    scaling_clients=8,
    setup_seconds=15.0,
    calibration_rounds=1,
    worker_counts=(1, 2),
)


def log(message: str) -> None:
    print(f"[engine] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def bench_server(scratch: Path, section: str, extra_args: Sequence[str]) -> Iterator[RunningServer]:
    """A fresh server for one section, its data directory under `scratch`."""
    args = [*SERVER_ARGUMENTS, *extra_args]
    (scratch / section).mkdir()
    with running_server(scratch / section / "data", *args) as server:
        try:
            yield server
        except BaseException:
            log(f"{section}: failed; the server's last output:\n{server.output()[-4000:]}")
            raise


# --- sections -------------------------------------------------------------------------------


def latency_section(server: RunningServer, plan: Plan) -> dict[str, Any]:
    client = SignedClient(server.port, *CREDENTIALS)
    names = [f"cold-{index}" for index in range(plan.cold_functions)]
    create_functions(
        server.port,
        CREDENTIALS,
        names,
        HELLO_ZIP,
        deadline=time.monotonic() + plan.setup_seconds,
        runtime=plan.runtime,
    )
    log(f"cold start: {len(names)} new functions, each next to a bare interpreter spawn")
    cold: list[float] = []
    spawn: list[float] = []
    for name in names:  # interleaved, so that both see the same machine
        time.sleep(0.02)  # let the previous step's background work settle
        cold.append(client.timed_invoke(name))
        time.sleep(0.02)
        spawn.append(time_spawn(plan.interpreter))
    log(f"warm invocation: {plan.warm_calls} sequential calls, and as many echo round trips")
    for _ in range(100):
        client.timed_invoke(names[0])
        client.timed_echo()
    warm: list[float] = []
    echo: list[float] = []
    block = 100
    while len(warm) < plan.warm_calls:  # alternating blocks cancel slow drifts of the machine
        size = min(block, plan.warm_calls - len(warm))
        warm.extend(client.timed_invoke(names[0]) for _ in range(size))
        echo.extend(client.timed_echo() for _ in range(size))
    signing = []
    for _ in range(200):
        started = time.perf_counter()
        client.signer.signed("POST", invoke_path(names[0]), b"{}")
        signing.append((time.perf_counter() - started) * 1e6)
    client.close()
    return {
        "cold_start": compared(cold, spawn, "spawn"),
        "warm_invoke": {
            **compared(warm, echo, "echo"),
            "client_sigv4_sign_median_us": round(statistics.median(signing), 1),
        },
    }


def compared(measured: list[float], baseline: list[float], name: str) -> dict[str, Any]:
    """Summaries of a measure and of its baseline, and the ratio of their medians."""
    summary, base = summarize(measured), summarize(baseline)
    return {
        **summary,
        f"{name}_baseline": base,
        f"ratio_vs_{name}": ratio(summary["median_ms"], base["median_ms"]),
    }


def node_section(server: RunningServer, plan: Plan, python_function: str) -> dict[str, Any]:
    """Node.js cold starts next to a bare `node -e 0` spawn, interleaved; warm Node invocations next
    to warm Python ones (`python_function`, warm already), in alternating blocks."""
    runtimes = [name for name in server.health()["runtimes"] if name.startswith("nodejs")]
    node = _node_of(runtimes[-1]) if runtimes else None
    if node is None:
        return {"note": "no Node.js runtime on this host"}
    runtime = runtimes[-1]
    client = SignedClient(server.port, *CREDENTIALS)
    names = [f"node-cold-{index}" for index in range(plan.cold_functions)]
    create_functions(
        server.port,
        CREDENTIALS,
        names,
        NODE_HELLO_ZIP,
        deadline=time.monotonic() + plan.setup_seconds,
        runtime=runtime,
    )
    log(f"node: {len(names)} cold starts of {runtime}, each next to a bare `node -e 0`")
    cold: list[float] = []
    spawn: list[float] = []
    for name in names:
        time.sleep(0.02)
        cold.append(client.timed_invoke(name))
        time.sleep(0.02)
        spawn.append(time_command([node, "-e", "0"]))
    log(f"node: {plan.warm_calls} warm calls, next to as many of the Python function")
    for _ in range(50):
        client.timed_invoke(names[0])
    warm: list[float] = []
    python: list[float] = []
    block = 100
    while len(warm) < plan.warm_calls:
        size = min(block, plan.warm_calls - len(warm))
        warm.extend(client.timed_invoke(names[0]) for _ in range(size))
        python.extend(client.timed_invoke(python_function) for _ in range(size))
    client.close()
    return {
        "runtime": runtime,
        "cold_start": compared(cold, spawn, "spawn"),
        "warm_invoke": compared(warm, python, "python"),
    }


def _node_of(runtime: str) -> str | None:
    from lamina.execution.runtimes.catalog import discover_runtimes

    spec = discover_runtimes().get(runtime)
    return spec.interpreter if spec is not None else None


def calibrate_clients(server: RunningServer, plan: Plan) -> dict[str, Any]:
    """Echo throughput from 8 clients as threads and as processes, in alternating rounds: the echo
    endpoint is the cheapest request the server answers, so the client side weighs most there.
    The mode with the higher best rate takes the least CPU from the server and is used for every
    load run."""
    client = SignedClient(server.port, *CREDENTIALS)
    echo = client.signer.unsigned("GET", HEALTH_PATH)
    client.close()
    scripts = same_request_scripts(echo, 8, b"ok")
    best: dict[str, dict[str, Any]] = {}
    rates: dict[str, list[float]] = {mode: [] for mode in CLIENT_MODES}
    for _ in range(plan.calibration_rounds):
        for mode in CLIENT_MODES:
            run_load(server.port, scripts, duration=plan.warmup_seconds, mode=mode)
            summary = measured_load(server, scripts, duration=plan.load_seconds, mode=mode)
            rates[mode].append(summary["per_second"])
            if mode not in best or summary["per_second"] > best[mode]["per_second"]:
                best[mode] = summary
    chosen = max(CLIENT_MODES, key=lambda mode: best[mode]["per_second"])
    log(
        "client calibration, echo from 8 clients: "
        + ", ".join(f"{mode} {max(rates[mode]):.0f}/s" for mode in CLIENT_MODES)
        + f": using {chosen}"
    )
    return {"echo_8_clients": best, "echo_8_clients_rates": rates, "chosen": chosen}


def throughput_section(server: RunningServer, plan: Plan, mode: ClientMode) -> dict[str, Any]:
    client = SignedClient(server.port, *CREDENTIALS)
    client.create_function("throughput", HELLO_ZIP, runtime=plan.runtime)
    invoke = client.signer.signed("POST", invoke_path("throughput"), b"{}")
    echo = client.signer.unsigned("GET", HEALTH_PATH)
    client.close()
    section: dict[str, Any] = {}
    for clients in plan.concurrencies:
        invoke_scripts = same_request_scripts(invoke, clients, HELLO_MARKER)
        # Unmeasured: starts the `clients` environments this concurrency needs.
        run_load(server.port, invoke_scripts, duration=plan.warmup_seconds, mode=mode)
        invocations = measured_load(server, invoke_scripts, duration=plan.load_seconds, mode=mode)
        echo_scripts = same_request_scripts(echo, clients, b"ok")
        run_load(server.port, echo_scripts, duration=plan.warmup_seconds, mode=mode)
        echoes = measured_load(server, echo_scripts, duration=plan.load_seconds, mode=mode)
        section[str(clients)] = {
            "invoke": invocations,
            "echo": echoes,
            "ratio_vs_echo": ratio(invocations["per_second"], echoes["per_second"]),
        }
        log(
            f"throughput, {clients} clients: {invocations['per_second']:.0f} invocations/s, "
            f"{echoes['per_second']:.0f} echoes/s"
        )
    return section


def density_section(server: RunningServer, plan: Plan) -> dict[str, Any]:
    """PSS of K idle warm environments, found as the server's new descendant process subtrees.

    One function is started and invoked first, so that helpers started lazily with the first
    environment (a fork server, say) exist before the "before" snapshot: what grows after it is
    the cost of K more environments. That marginal cost, including the server's own growth,
    gives environments per GiB; the median environment's PSS is the per-environment figure.
    """
    pid = server.process.pid
    client = SignedClient(server.port, *CREDENTIALS)
    client.create_function("density-first", HELLO_ZIP, runtime=plan.runtime)
    client.timed_invoke("density-first")
    names = [f"density-{index}" for index in range(plan.density_environments)]
    deadline = time.monotonic() + plan.setup_seconds
    create_functions(server.port, CREDENTIALS, names, HELLO_ZIP, deadline=deadline, runtime=plan.runtime)
    time.sleep(0.5)
    before_tree = procfs.descendants(pid)
    before = procfs.total_memory([pid, *before_tree])
    server_before = procfs.memory(pid) or procfs.NO_MEMORY
    log(f"density: {len(names)} idle environments")
    invoked = 0
    for name in names:
        if time.monotonic() > deadline:
            break
        client.timed_invoke(name)
        invoked += 1
    time.sleep(0.5)  # idle: no invocation in flight, runtimes parked on /next
    health = client.health()
    client.close()
    after_tree = procfs.descendants(pid)
    after = procfs.total_memory([pid, *after_tree])
    groups = procfs.subtrees(after_tree, set(after_tree) - set(before_tree))
    memories = [procfs.total_memory(group) for group in groups]
    section: dict[str, Any] = {
        "functions_invoked": invoked,
        "environments_found": len(groups),
        "processes_per_environment": round(sum(map(len, groups)) / len(groups), 2) if groups else None,
        # The cold-start baseline spawns the runtime's interpreter: the environments run the same file.
        "environment_executables": sorted(
            {path for group in groups if (path := procfs.executable(group[0]))}
        ),
        "baseline_executable": plan.interpreter,
        "server_pool": pool_state(health),
    }
    if len(groups) < invoked:
        section["note"] = (
            f"{invoked} functions invoked but {len(groups)} environments found: the server stopped "
            "some idle ones (see server_pool: a memory budget?)"
        )
    if not memories:
        return {**section, "note": "no new descendant processes of the server were found"}
    marginal_pss = (after.pss_kib - before.pss_kib) / len(memories)
    section.update(
        {
            "pss_per_environment_median_kib": statistics.median(m.pss_kib for m in memories),
            "uss_per_environment_median_kib": statistics.median(m.uss_kib for m in memories),
            "rss_per_environment_median_kib": statistics.median(m.rss_kib for m in memories),
            "environments_total_pss_kib": sum(m.pss_kib for m in memories),
            "environments_total_rss_kib": sum(m.rss_kib for m in memories),
            "server_pss_growth_kib": (procfs.memory(pid) or procfs.NO_MEMORY).pss_kib - server_before.pss_kib,
            "marginal_pss_per_environment_kib": round(marginal_pss, 1),
            "environments_per_gib": round(GIB_KIB / marginal_pss, 1) if marginal_pss > 0 else None,
            "environments_per_gib_by_median_pss": round(
                GIB_KIB / statistics.median(m.pss_kib for m in memories), 1
            ),
        }
    )
    return section


def burst_section(server: RunningServer, plan: Plan, mode: ClientMode, cores: int) -> dict[str, Any]:
    names = [f"burst-{index}" for index in range(plan.burst_functions)]
    create_functions(
        server.port,
        CREDENTIALS,
        names,
        HELLO_ZIP,
        deadline=time.monotonic() + plan.setup_seconds,
        runtime=plan.runtime,
    )
    client = SignedClient(server.port, *CREDENTIALS)
    requests = [client.signer.signed("POST", invoke_path(name), b"{}") for name in names]
    log(f"burst: {len(names)} new functions invoked once each by {plan.burst_clients} clients")
    result = measured_load(
        server,
        one_each_scripts(requests, plan.burst_clients, HELLO_MARKER),
        duration=plan.setup_seconds,
        mode=mode,
    )
    health = client.health()
    client.close()
    per_second = result["per_second"]
    return {
        "functions": len(names),
        **result,
        "new_environments_per_second": per_second,
        "new_environments_per_second_per_core": round(per_second / cores, 1),
        "server_pool": pool_state(health),
    }


def scaling_section(
    server: RunningServer, plan: Plan, mode: ClientMode, environment_kib: float
) -> dict[str, Any]:
    """Throughput from `scaling_clients` clients spread round-robin over more and more functions.

    Each step creates the missing functions, invokes each new one once (cold starts, reported
    but not counted as throughput), warms up, then measures. Environments stay warm across steps
    unless the server stops them. A step is skipped when the environments it needs would not fit
    in the memory available; a step that fails ends the section with a note, not the run.
    """
    client = SignedClient(server.port, *CREDENTIALS)
    functions = ScalingFunctions([], [])
    steps: list[dict[str, Any]] = []
    for count in plan.scaling_functions:
        step: dict[str, Any] = {"functions": count, "notes": []}
        steps.append(step)
        if server.process.poll() is not None:
            step["notes"].append(f"server exited with status {server.process.returncode}")
            break
        needed_kib = (count - len(functions.names)) * environment_kib
        available_kib = procfs.memory_available_kib()
        if available_kib is not None and needed_kib > 0.8 * available_kib:
            step["notes"].append(
                f"skipped: {count - len(functions.names)} more environments need "
                f"~{needed_kib / 1024:.0f} MiB, {available_kib / 1024:.0f} MiB available"
            )
            break
        try:
            _scaling_step(server, plan, mode, client, functions, count, step)
        except Exception as error:
            step["notes"].append(f"failed: {error!r}")
            break
        log(f"scaling: {len(functions.names)} functions: {step['invoke']['per_second']:.0f} invocations/s")
    client.close()
    measured = [step for step in steps if "invoke" in step]
    section: dict[str, Any] = {"clients": plan.scaling_clients, "steps": steps}
    if measured:
        section["largest_functions"] = measured[-1]["functions"]
        section["ratio_largest_vs_first"] = ratio(
            measured[-1]["invoke"]["per_second"], measured[0]["invoke"]["per_second"]
        )
    return section


@dataclass(slots=True)
class ScalingFunctions:
    """The functions the scaling section has created so far, and their signed Invoke requests."""

    names: list[str]
    requests: list[bytes]


def _scaling_step(
    server: RunningServer,
    plan: Plan,
    mode: ClientMode,
    client: SignedClient,
    functions: ScalingFunctions,
    count: int,
    step: dict[str, Any],
) -> None:
    new_names = [f"scale-{index}" for index in range(len(functions.names), count)]
    created = create_functions(
        server.port,
        CREDENTIALS,
        new_names,
        HELLO_ZIP,
        deadline=time.monotonic() + plan.setup_seconds,
        runtime=plan.runtime,
    )
    functions.names.extend(created)
    functions.requests.extend(client.signer.signed("POST", invoke_path(name), b"{}") for name in created)
    step["functions"] = len(functions.names)
    if len(created) < len(new_names):
        step["notes"].append(f"only {len(created)} of {len(new_names)} new functions created in time")
    if created:
        log(f"scaling: {len(functions.names)} functions, first invocation of {len(created)} new ones")
        first = run_load(
            server.port,
            one_each_scripts(functions.requests[-len(created) :], plan.scaling_clients, HELLO_MARKER),
            duration=plan.setup_seconds,
            mode=mode,
        )
        step["first_invocations"] = _brief(first)
    scripts = round_robin_scripts(functions.requests, plan.scaling_clients, HELLO_MARKER)
    run_load(server.port, scripts, duration=plan.warmup_seconds, mode=mode)
    step["invoke"] = measured_load(server, scripts, duration=plan.load_seconds, mode=mode)
    step["server_pool"] = pool = _pool_state(client)
    environments = pool.get("environments")
    if isinstance(environments, int) and plan.scaling_clients <= len(functions.names) > environments:
        step["notes"].append(
            f"{environments} environments for {len(functions.names)} functions: the server kept no "
            f"more (memory budget: {pool.get('memoryUsedMb')} of {pool.get('memoryBudgetMb')} MB in "
            "use), so calls to the others started new environments"
        )
    step["server_and_environments_pss_kib"] = procfs.total_memory(
        [server.process.pid, *procfs.descendants(server.process.pid)]
    ).pss_kib


def _brief(result: LoadResult) -> dict[str, Any]:
    summary = result.summary()
    keys = ("per_second", "succeeded", "throttled_429", "errors", "timeouts", "elapsed_s", "first_error")
    return {key: summary[key] for key in keys}


def pool_state(health: dict[str, Any]) -> dict[str, Any]:
    """The environment pool as the server's health document reports it (fields it has today)."""
    return {key: health[key] for key in POOL_FIELDS if key in health}


def _pool_state(client: SignedClient) -> dict[str, Any]:
    try:
        return pool_state(client.health())
    except Exception as error:
        return {"error": repr(error)}


# --- the run --------------------------------------------------------------------------------


def run(plan: Plan, client_mode: str, server_args: Sequence[str]) -> dict[str, Any]:
    started = time.monotonic()
    machine = procfs.machine_info()
    seconds: dict[str, float] = {}
    results: dict[str, Any] = {
        "benchmark": "lamina execution engine (issue 3)",
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "plan": asdict(plan),
        "machine": machine,
        "section_seconds": seconds,
    }

    @contextlib.contextmanager
    def section(name: str) -> Iterator[RunningServer]:
        began = time.monotonic()
        with bench_server(scratch, name, server_args) as server:
            yield server
        seconds[name] = round(time.monotonic() - began, 1)

    with tempfile.TemporaryDirectory(prefix="lamina-bench-") as scratch_name:
        scratch = Path(scratch_name)
        with section("latency") as server:
            client = SignedClient(server.port, *CREDENTIALS)
            results["server"] = {
                "health": client.health(),
                "arguments": [*SERVER_ARGUMENTS, *server_args],
                "open_files_limit": procfs.open_files_limit(server.process.pid),
            }
            client.close()
            results.update(latency_section(server, plan))
            results["node"] = node_section(server, plan, "cold-0")
        with section("throughput") as server:
            if client_mode == "auto":
                results["client"] = calibrate_clients(server, plan)
            else:
                results["client"] = {"chosen": client_mode, "note": "forced with --clients"}
            mode: ClientMode = results["client"]["chosen"]
            results["throughput"] = throughput_section(server, plan, mode)
        with section("density") as server:
            results["density"] = density_section(server, plan)
        with section("burst") as server:
            results["burst"] = burst_section(server, plan, mode, machine["cores"])
        environment_kib = results["density"].get("marginal_pss_per_environment_kib")
        with section("scaling") as server:
            results["scaling"] = scaling_section(
                server, plan, mode, environment_kib or FALLBACK_ENVIRONMENT_KIB
            )
        began = time.monotonic()
        results["workers"] = workers_section(
            scratch,
            [*SERVER_ARGUMENTS, *server_args],
            CREDENTIALS,
            HELLO_ZIP,
            counts=plan.worker_counts or worker_counts(machine["cores"]),
            load_seconds=plan.load_seconds,
            warmup_seconds=plan.warmup_seconds,
            burst_functions=plan.burst_functions,
            setup_seconds=plan.setup_seconds,
            runtime=plan.runtime,
            mode=mode,
            log=log,
        )
        seconds["workers"] = round(time.monotonic() - began, 1)
    results["targets"] = evaluate_targets(results)
    results["duration_s"] = round(time.monotonic() - started, 1)
    return results


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _counts(text: str) -> tuple[int, ...]:
    try:
        return tuple(sorted({_positive_int(part) for part in text.split(",")}))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected counts like 1,10,100, got {text}") from error


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Lamina's execution-engine benchmark: cold start, warm latency, throughput, "
        "density, cold-start bursts and scaling, each next to a baseline measured in the same run.",
    )
    parser.add_argument("--quick", action="store_true", help="small counts: under a minute (smoke test)")
    parser.add_argument("--json-only", action="store_true", help="print the JSON document only")
    parser.add_argument("--output", type=Path, help="also write the JSON document to this file")
    parser.add_argument(
        "--clients",
        choices=("auto", *CLIENT_MODES),
        default="auto",
        help="run load clients as threads or processes; auto measures both on the echo endpoint",
    )
    parser.add_argument(
        "--sandbox",
        default="auto",
        help="the servers' --sandbox (default auto: the strongest tier this host allows, as `lamina server`)",
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for `lamina server`, repeatable (e.g. --server-arg=--memory-limits=watchdog)",
    )
    parser.add_argument("--cold", type=_positive_int, help="new functions for the cold-start section")
    parser.add_argument("--warm", type=_positive_int, help="sequential warm invocations")
    parser.add_argument("--seconds", type=_positive_float, help="duration of each measured load run")
    parser.add_argument("--density", type=_positive_int, help="idle environments for the density section")
    parser.add_argument(
        "--runtime",
        default=OWN_RUNTIME,
        help="the hello-world functions' python3.X runtime; the spawn baseline uses its interpreter "
        f"(default {OWN_RUNTIME}, this interpreter's)",
    )
    parser.add_argument("--burst", type=_positive_int, help="new functions in the cold-start burst")
    parser.add_argument(
        "--workers",
        type=_counts,
        help="comma-separated worker counts for the workers section (default 1,2,4,... up to the cores)",
    )
    parser.add_argument(
        "--scaling",
        type=_counts,
        help="comma-separated function counts for the scaling section, e.g. 1,10,100,1000",
    )
    return parser.parse_args(argv)


def plan_from(options: argparse.Namespace) -> Plan:
    plan = QUICK_PLAN if options.quick else DEFAULT_PLAN
    overrides: dict[str, Any] = {
        "cold_functions": options.cold,
        "warm_calls": options.warm,
        "load_seconds": options.seconds,
        "density_environments": options.density,
        "burst_functions": options.burst,
    }
    if options.scaling:
        overrides["scaling_functions"] = options.scaling
    if options.workers:
        overrides["worker_counts"] = options.workers
    if options.runtime != OWN_RUNTIME:
        overrides["runtime"] = options.runtime
        overrides["interpreter"] = _interpreter_of(options.runtime)
    return replace(plan, **{key: value for key, value in overrides.items() if value is not None})


def _interpreter_of(runtime: str) -> str:
    """The interpreter `lamina server` finds for `runtime`, by the server's own discovery."""
    from lamina.execution.runtimes.catalog import discover_runtimes

    spec = discover_runtimes().get(runtime)
    if spec is None or spec.interpreter is None:
        raise SystemExit(f"bench: no {runtime} interpreter on this host")
    return spec.interpreter


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_arguments(argv)
    # The test helper that starts servers picks the `process` sandbox unless told otherwise; the
    # benchmark measures what `lamina server` does by default unless --sandbox says otherwise.
    server_args = ["--sandbox", options.sandbox, *options.server_arg]
    results = run(plan_from(options), options.clients, server_args)
    emit(results, render_table, options.output, options.json_only)


if __name__ == "__main__":
    main()
