"""Soak a Lamina server under steady mixed load and check that it stays flat (Lamina issue 11).

    python bench/soak.py --minutes 30            # the issue's run
    python bench/soak.py --minutes 2 --check     # what CI runs; exit status 1 unless flat

Starts its own `lamina server` on 127.0.0.1 (temporary data directory, fixed root credentials), or
attaches to a running one with --endpoint (then --pid, found from the listening port when omitted,
and --data-dir for the code folder counts). Drives it at --rate operations per second with
bench/support/soak_load.py's mix (sync and async invocations, function create/update/delete
cycles, log reads, IAM users, ListFunctions) and samples the server every few seconds from /proc:
RSS (own, and with its descendants), open descriptors, threads, child processes, zombies, CPU
seconds, and the entries of <data>/code and <data>/blobs.

Prints the server's numbers when the load starts and when it has ended, then one JSON document
(every sample) and a table. Flat means, from the end of the warm-up (the first 20 % of the run) to
the end: each resource grew by at most 10 % plus a small absolute slack, server CPU per operation
by at most 50 %; no operation failed, every accepted asynchronous invocation ran, no zombie is
left, and the code folders and blobs are back to their count before the load once every cycle's
function was deleted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import ACCESS_KEY, EXECUTION_ROLE, REGION, SECRET_KEY, running_server

from bench.support import procfs
from bench.support.client import OWN_RUNTIME
from bench.support.flatness import cpu_per_operation_ms, evaluate
from bench.support.output import emit
from bench.support.sampling import Sample, descriptor_kinds, folder_counts, listening_pid, sample
from bench.support.soak_load import (
    MIX,
    Endpoint,
    LoadState,
    create_steady_function,
    lost_async_events,
    run_load,
)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
FOLDERS_SETTLE_S = 30.0  # how long deleted functions' code may take to be removed after the load


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    pid: int
    data_dir: Path | None


@contextmanager
def soak_server(options: argparse.Namespace) -> Iterator[Server]:
    if options.endpoint:
        parts = urllib.parse.urlsplit(options.endpoint)
        if parts.hostname not in LOOPBACK_HOSTS or parts.port is None:
            raise SystemExit(
                "--endpoint must be a server on this machine (http://127.0.0.1:PORT): /proc is read"
            )
        pid = options.pid or listening_pid(parts.port)
        if pid is None:
            raise SystemExit(f"no process listens on port {parts.port} that this user can see; pass --pid")
        yield Server(options.endpoint, pid, options.data_dir)
        return
    with tempfile.TemporaryDirectory(prefix="lamina-soak-") as folder:
        data_dir = Path(folder) / "data"
        with running_server(data_dir, "--sandbox", options.sandbox, *options.server_arg) as server:
            yield Server(server.endpoint, server.process.pid, data_dir)


def describe(label: str, snapshot: Sample, errors: int) -> str:
    return (
        f"[soak] {label}: RSS {snapshot.server_rss_kib / 1024:.1f} MiB (with descendants "
        f"{snapshot.tree_rss_kib / 1024:.1f}), fds {snapshot.server_fds}, threads {snapshot.server_threads}, "
        f"child processes {snapshot.children}, zombies {snapshot.zombies}, errors {errors}, "
        f"code folders {snapshot.code_folders}, blobs {snapshot.code_blobs}"
    )


class Sampler:
    """Samples the server every `interval` seconds on a thread until stopped."""

    def __init__(self, server: Server, state: LoadState, started: float, interval: float) -> None:
        self.samples: list[Sample] = []
        self._server, self._state, self._started, self._interval = server, state, started, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)

    def take(self) -> Sample:
        return sample(self._server.pid, self._server.data_dir, self._started, self._state.operations)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.samples.append(self.take())


def settled_folders(data_dir: Path | None, target: Sample) -> tuple[int | None, int | None]:
    """The code folder and blob counts once they are back to `target`'s, or after FOLDERS_SETTLE_S."""
    deadline = time.monotonic() + FOLDERS_SETTLE_S
    while True:
        counts = folder_counts(data_dir)
        back = all(
            now is None or before is None or now <= before
            for now, before in zip(counts, (target.code_folders, target.code_blobs), strict=True)
        )
        if back or time.monotonic() > deadline:
            return counts
        time.sleep(1)


def soak(options: argparse.Namespace, server: Server) -> dict[str, Any]:
    endpoint = Endpoint(
        server.url, options.access_key, options.secret_key, options.region, options.role, options.runtime
    )
    create_steady_function(endpoint)
    seconds = options.minutes * 60
    interval = options.sample_every or max(2.0, min(30.0, seconds / 40))
    state = LoadState()
    started = time.monotonic()
    sampler = Sampler(server, state, started, interval)
    first = sampler.take()
    first_descriptors = descriptor_kinds(server.pid, server.data_dir)
    print(describe("start", first, 0), file=sys.stderr, flush=True)
    sampler.samples.append(first)
    sampler.start()
    try:
        run_load(
            endpoint, state, rate=options.rate, workers=options.workers, seconds=seconds, seed=options.seed
        )
    finally:
        sampler.stop()
    load_seconds = time.monotonic() - started
    lost = lost_async_events(endpoint, state.accepted_async, options.async_wait)
    code_folders, code_blobs = settled_folders(server.data_dir, first)
    last = sampler.take()
    last_descriptors = descriptor_kinds(server.pid, server.data_dir)
    errors = sum(state.failed.values())
    print(describe("end", last, errors), file=sys.stderr, flush=True)

    warmup_s = seconds * options.warmup_fraction
    verdicts = evaluate(sampler.samples, warmup_s)
    verdicts.append(_count_verdict("failed operations", errors))
    verdicts.append(_count_verdict("accepted async invocations that never ran", len(lost)))
    verdicts.append(_count_verdict("zombies at the end", last.zombies))
    verdicts.append(_folder_verdict("code folders after deletes", first.code_folders, code_folders))
    verdicts.append(_folder_verdict("code blobs after deletes", first.code_blobs, code_blobs))
    operations = sum(state.completed.values()) + errors
    return {
        "machine": procfs.machine_info(),
        "plan": {
            "minutes": options.minutes,
            "rate_per_second": options.rate,
            "workers": options.workers,
            "warmup_s": round(warmup_s, 1),
            "sample_every_s": interval,
            "mix": MIX,
            "seed": options.seed,
        },
        "load_seconds": round(load_seconds, 1),
        "operations": operations,
        "achieved_rate_per_second": round(operations / load_seconds, 2) if load_seconds else None,
        "skipped_operations": state.skipped,
        "completed": dict(state.completed),
        "failed": dict(state.failed),
        "errors": state.errors,
        "async": {"accepted": len(state.accepted_async), "lost": len(lost), "lost_markers": lost[:20]},
        "start": {**asdict(first), "descriptors": first_descriptors},
        "end": {**asdict(last), "descriptors": last_descriptors},
        "samples": [asdict(each) for each in sampler.samples],
        "cpu_per_operation_ms": {
            "server": cpu_per_operation_ms(sampler.samples),
            "with_descendants": cpu_per_operation_ms(sampler.samples, tree=True),
        },
        "criteria": verdicts,
        "flat": all(verdict["pass"] for verdict in verdicts),
    }


def _count_verdict(name: str, count: int) -> dict[str, Any]:
    return {
        "name": name,
        "unit": "",
        "after_warmup": None,
        "final": count,
        "growth_percent": None,
        "allowed": "0",
        "limit": 0,
        "pass": count == 0,
    }


def _folder_verdict(name: str, before: int | None, after: int | None) -> dict[str, Any]:
    return {
        "name": name,
        "unit": "",
        "after_warmup": before,
        "final": after,
        "growth_percent": None,
        "allowed": "≤ before the load",
        "limit": before,
        "pass": before is not None and after is not None and after <= before,
    }


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.2f}" if isinstance(value, float) and not value.is_integer() else f"{int(value):,}"


def render_table(results: dict[str, Any]) -> str:
    plan = results["plan"]
    lines = [
        f"Lamina soak: {plan['minutes']} min at {plan['rate_per_second']}/s ({results['achieved_rate_per_second']}/s "
        f"achieved, {results['skipped_operations']} skipped), {results['operations']} operations, "
        f"warm-up {plan['warmup_s']} s, a sample every {plan['sample_every_s']} s",
        "operations: " + ", ".join(f"{name} {count}" for name, count in sorted(results["completed"].items())),
        "",
        f"{'criterion':<44}{'after warm-up':>14}{'end':>12}{'growth':>9}{'allowed':>20}{'result':>8}",
    ]
    for verdict in results["criteria"]:
        growth = "" if verdict["growth_percent"] is None else f"{verdict['growth_percent']:+.1f}%"
        name = verdict["name"] + (f" ({verdict['unit']})" if verdict["unit"] else "")
        lines.append(
            f"{name:<44}{_cell(verdict['after_warmup']):>14}{_cell(verdict['final']):>12}{growth:>9}"
            f"{verdict['allowed']:>20}{'PASS' if verdict['pass'] else 'FAIL':>8}"
        )
    lines.append("flat" if results["flat"] else "NOT flat")
    lines.extend(f"error: {error}" for error in results["errors"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=20.0, help="operations released per second")
    parser.add_argument("--workers", type=int, default=4, help="threads that run the operations")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warmup-fraction", type=float, default=0.2)
    parser.add_argument(
        "--sample-every", type=float, help="seconds between samples (default: run/40, 2-30 s)"
    )
    parser.add_argument("--async-wait", type=float, default=60.0, help="seconds to wait for async events")
    parser.add_argument("--check", action="store_true", help="exit 1 unless the run is flat")
    parser.add_argument("--endpoint", help="soak a running server on this machine instead of starting one")
    parser.add_argument("--pid", type=int, help="that server's process id (default: who listens on its port)")
    parser.add_argument("--data-dir", type=Path, help="that server's data directory (code folder counts)")
    parser.add_argument("--access-key", default=ACCESS_KEY)
    parser.add_argument("--secret-key", default=SECRET_KEY)
    parser.add_argument("--region", default=REGION)
    parser.add_argument("--role", default=EXECUTION_ROLE, help="execution role of the functions created")
    parser.add_argument("--runtime", default=OWN_RUNTIME)
    parser.add_argument("--sandbox", default="process")
    parser.add_argument("--server-arg", action="append", default=[], help="an option for the server started")
    parser.add_argument("--json-only", action="store_true")
    parser.add_argument("--output", type=Path, help="also write the JSON document here")
    options = parser.parse_args(argv)

    with soak_server(options) as server:
        results = soak(options, server)
    emit(results, render_table, options.output, options.json_only)
    return 1 if options.check and not results["flat"] else 0


if __name__ == "__main__":
    sys.exit(main())
