"""The engine benchmark's workers section (issue 15): `lamina server --workers N` for N = 1, 2, 4, ...

For each worker count a fresh server runs; from `4 × N` clients (at least 8, each its own
connection, which the kernel spreads over the workers) it measures invocations per second of one
hello-world function and, as the baseline, the ping endpoint (`GET /_lamina/ping`, answered by
whichever process gets it) served by the same N processes; then a burst of cold starts
(new functions invoked once each), which tests that fork servers scale with the workers. Scaling is
each count's rate against N times the one-worker rate: 1.0 is linear.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.support.server import RunningServer, running_server

from bench.support.client import HELLO_MARKER, SignedClient, create_functions, invoke_path
from bench.support.load import ClientMode, run_load
from bench.support.stats import ratio
from bench.support.workloads import measured_load, one_each_scripts, same_request_scripts

PING_PATH = "/_lamina/ping"
WORKER_READY_SECONDS = 120.0


def worker_counts(cores: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to the core count (which is always included)."""
    counts = [1]
    while counts[-1] * 2 < cores:
        counts.append(counts[-1] * 2)
    if cores > 1:
        counts.append(cores)
    return tuple(counts)


def workers_section(
    scratch: Path,
    server_args: Sequence[str],
    credentials: tuple[str, str],
    hello_zip: bytes,
    *,
    counts: Sequence[int],
    load_seconds: float,
    warmup_seconds: float,
    burst_functions: int,
    setup_seconds: float,
    runtime: str,
    mode: ClientMode,
    log: Callable[[str], None],
) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for workers in counts:
        with _server(scratch, workers, server_args) as server:
            step = _step(
                server,
                workers,
                credentials,
                hello_zip,
                load_seconds=load_seconds,
                warmup_seconds=warmup_seconds,
                burst_functions=burst_functions,
                setup_seconds=setup_seconds,
                runtime=runtime,
                mode=mode,
            )
        steps.append(step)
        log(
            f"workers {workers}: {step['invoke']['per_second']:.0f} invocations/s, "
            f"{step['echo']['per_second']:.0f} pings/s, burst {step['burst']['per_second']:.0f} cold starts/s"
        )
    base = steps[0]["invoke"]["per_second"] if steps else 0
    for step in steps:
        step["scaling_vs_linear"] = ratio(step["invoke"]["per_second"], base * step["workers"])
    section: dict[str, Any] = {"steps": steps}
    if steps:
        section["largest_workers"] = steps[-1]["workers"]
        section["scaling_largest_vs_linear"] = steps[-1]["scaling_vs_linear"]
    return section


@contextlib.contextmanager
def _server(scratch: Path, workers: int, server_args: Sequence[str]) -> Iterator[RunningServer]:
    folder = scratch / f"workers-{workers}"
    folder.mkdir()
    with running_server(folder / "data", *server_args, "--workers", str(workers)) as server:
        client = SignedClient(server.port, "", "")
        try:
            _wait_for_workers(client, workers)
        finally:
            client.close()
        yield server


def _wait_for_workers(client: SignedClient, workers: int) -> None:
    import time

    deadline = time.monotonic() + WORKER_READY_SECONDS
    while client.health().get("workers") != workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server never had {workers} workers serving")
        time.sleep(0.1)


def _step(
    server: RunningServer,
    workers: int,
    credentials: tuple[str, str],
    hello_zip: bytes,
    *,
    load_seconds: float,
    warmup_seconds: float,
    burst_functions: int,
    setup_seconds: float,
    runtime: str,
    mode: ClientMode,
) -> dict[str, Any]:
    import time

    client = SignedClient(server.port, *credentials)
    client.create_function("throughput", hello_zip, runtime=runtime)
    invoke = client.signer.signed("POST", invoke_path("throughput"), b"{}")
    ping = client.signer.unsigned("GET", PING_PATH)
    clients = max(8, 4 * workers)
    invoke_scripts = same_request_scripts(invoke, clients, HELLO_MARKER)
    run_load(server.port, invoke_scripts, duration=warmup_seconds, mode=mode)
    invocations = measured_load(server, invoke_scripts, duration=load_seconds, mode=mode)
    ping_scripts = same_request_scripts(ping, clients, b"ok")
    run_load(server.port, ping_scripts, duration=warmup_seconds, mode=mode)
    echoes = measured_load(server, ping_scripts, duration=load_seconds, mode=mode)
    names = [f"burst-{index}" for index in range(burst_functions)]
    create_functions(
        server.port, credentials, names, hello_zip, deadline=time.monotonic() + setup_seconds, runtime=runtime
    )
    requests = [client.signer.signed("POST", invoke_path(name), b"{}") for name in names]
    burst = measured_load(
        server, one_each_scripts(requests, clients, HELLO_MARKER), duration=setup_seconds, mode=mode
    )
    health = client.health()
    client.close()
    return {
        "workers": workers,
        "clients": clients,
        "invoke": invocations,
        "echo": echoes,
        "ratio_vs_echo": ratio(invocations["per_second"], echoes["per_second"]),
        "burst": burst,
        "burst_per_worker": round(burst["per_second"] / workers, 1),
        "environments": health.get("environments"),
    }
