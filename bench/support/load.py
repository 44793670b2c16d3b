"""A closed-loop load generator: N clients, each on its own keep-alive connection, sending
pre-serialised requests back to back, bounded by a deadline and a request count.

Two ways to run the clients, because on a small machine the generator competes with the server
for the same cores and either can be the bottleneck:
- `threads`: N threads in this process doing blocking socket calls. The GIL is released while a
  thread waits on its socket, and the Python work per request is a few microseconds with the lean
  `Connection`, so threads cost one process's worth of scheduling;
- `processes`: N forked processes, no GIL, but N more processes for the kernel to schedule next
  to the server.
`bench/engine.py` measures both against the echo endpoint and uses the faster one.

Standard library only (with `connection.py`), so that it stays cheap to use anywhere.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import queue
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bench.support.connection import Connection

ClientMode = Literal["threads", "processes"]
CLIENT_MODES: tuple[ClientMode, ...] = ("threads", "processes")
# Start-up (connect, fork) must finish within this many seconds, or the run is abandoned.
START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ClientScript:
    """What one client sends: `requests` in order, cycled, until `max_requests` or the deadline.

    A response counts as a success when its status is 200 and its body contains `expect`.
    """

    requests: tuple[bytes, ...]
    max_requests: int
    expect: bytes = b""


@dataclass(frozen=True, slots=True)
class ClientTally:
    succeeded: int
    throttled: int  # 429: the server refused for concurrency or rate
    failed: int  # other statuses, unexpected bodies, broken connections
    timed_out: int  # no response within the request timeout: a hang as callers see it
    latencies_ms: list[float]  # successful requests only
    started: float  # time.monotonic() after the start barrier
    finished: float
    cpu_seconds: float  # this client's CPU time (processes mode only; threads share one process)
    first_error: str | None


@dataclass(frozen=True, slots=True)
class LoadResult:
    mode: ClientMode
    clients: int
    elapsed_seconds: float
    succeeded: int
    throttled: int
    failed: int
    timed_out: int
    latencies_ms: list[float]
    client_cpu_seconds: float
    first_error: str | None

    @property
    def per_second(self) -> float:
        return self.succeeded / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        completed = self.succeeded + self.throttled + self.failed
        return {
            "clients": self.clients,
            "client_mode": self.mode,
            "per_second": round(self.per_second, 1),
            "succeeded": self.succeeded,
            "throttled_429": self.throttled,
            "errors": self.failed,
            "timeouts": self.timed_out,
            "elapsed_s": round(self.elapsed_seconds, 3),
            "latency_median_ms": round(statistics.median(ordered), 3) if ordered else None,
            "latency_p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3)
            if ordered
            else None,
            "latency_max_ms": round(ordered[-1], 3) if ordered else None,
            "client_cpu_us_per_request": round(self.client_cpu_seconds * 1e6 / completed, 1)
            if completed
            else None,
            "first_error": self.first_error,
        }


def _drive(port: int, script: ClientScript, duration: float, timeout: float, barrier: Any) -> ClientTally:
    """One client's loop; waits at `barrier` so that every client starts together."""
    connection = Connection("127.0.0.1", port, timeout)
    first_error: str | None = None
    try:
        connection.open()
    except OSError as error:
        first_error = f"connect: {error!r}"
    barrier.wait(START_TIMEOUT_SECONDS)
    cpu_started = time.process_time()
    started = time.monotonic()
    deadline = started + duration
    succeeded = throttled = failed = timed_out = 0
    latencies: list[float] = []
    requests = script.requests
    expect = script.expect
    sent = 0
    clock = time.perf_counter
    while sent < script.max_requests and time.monotonic() < deadline:
        request = requests[sent % len(requests)]
        sent += 1
        began = clock()
        try:
            status, body = connection.exchange(request)
        except TimeoutError:
            timed_out += 1
            first_error = first_error or f"no response within {timeout} s"
            continue
        except OSError as error:
            failed += 1
            first_error = first_error or repr(error)
            time.sleep(0.01)  # a refused or reset connection: do not spin
            continue
        elapsed = (clock() - began) * 1000
        if status == 200 and expect in body:
            succeeded += 1
            latencies.append(elapsed)
        elif status == 429:
            throttled += 1
        else:
            failed += 1
            first_error = first_error or f"{status} {body[:200]!r}"
    finished = time.monotonic()
    connection.close()
    return ClientTally(
        succeeded,
        throttled,
        failed,
        timed_out,
        latencies,
        started,
        finished,
        time.process_time() - cpu_started,
        first_error,
    )


def _client_process(
    port: int,
    script: ClientScript,
    duration: float,
    timeout: float,
    barrier: multiprocessing.synchronize.Barrier,
    results: Any,
    index: int,
) -> None:
    results.put((index, _drive(port, script, duration, timeout, barrier)))


def _combine(
    mode: ClientMode, tallies: Sequence[ClientTally], client_cpu_seconds: float | None = None
) -> LoadResult:
    latencies = [latency for tally in tallies for latency in tally.latencies_ms]
    elapsed = max(tally.finished for tally in tallies) - min(tally.started for tally in tallies)
    errors = [tally.first_error for tally in tallies if tally.first_error]
    return LoadResult(
        mode,
        len(tallies),
        elapsed,
        sum(tally.succeeded for tally in tallies),
        sum(tally.throttled for tally in tallies),
        sum(tally.failed for tally in tallies),
        sum(tally.timed_out for tally in tallies),
        latencies,
        client_cpu_seconds if client_cpu_seconds is not None else sum(tally.cpu_seconds for tally in tallies),
        errors[0] if errors else None,
    )


def run_load(
    port: int,
    scripts: Sequence[ClientScript],
    *,
    duration: float,
    mode: ClientMode = "threads",
    timeout: float = 30.0,
) -> LoadResult:
    """Run one client per script against 127.0.0.1:`port` for at most `duration` seconds.

    Clients connect first, then start together. Each stops at its deadline or after its script's
    `max_requests`; a request in flight at the deadline may take up to `timeout` more seconds.
    Never raises for what the server does; raises RuntimeError if the clients cannot start.
    """
    if mode == "threads":
        return _run_threads(port, scripts, duration, timeout)
    return _run_processes(port, scripts, duration, timeout)


def _run_threads(port: int, scripts: Sequence[ClientScript], duration: float, timeout: float) -> LoadResult:
    barrier = threading.Barrier(len(scripts) + 1)
    tallies: list[ClientTally | None] = [None] * len(scripts)

    def client(index: int, script: ClientScript) -> None:
        tallies[index] = _drive(port, script, duration, timeout, barrier)

    threads = [
        threading.Thread(target=client, args=(index, script), daemon=True)
        for index, script in enumerate(scripts)
    ]
    for thread in threads:
        thread.start()
    try:
        barrier.wait(START_TIMEOUT_SECONDS)
    except threading.BrokenBarrierError as error:
        raise RuntimeError("load clients did not start") from error
    # The main thread only waits from here on: this process's CPU time is the clients' CPU time.
    cpu_started = time.process_time()
    give_up = time.monotonic() + duration + timeout + 10
    for thread in threads:
        thread.join(max(0.0, give_up - time.monotonic()))
    cpu_seconds = time.process_time() - cpu_started
    finished = [tally for tally in tallies if tally is not None]
    if len(finished) != len(scripts):
        raise RuntimeError(f"{len(scripts) - len(finished)} load clients did not stop")
    return _combine("threads", finished, cpu_seconds)


def _run_processes(port: int, scripts: Sequence[ClientScript], duration: float, timeout: float) -> LoadResult:
    # fork: a child starts as a copy of this process, scripts included, without re-importing the
    # main module (spawn and forkserver children re-run it: botocore and all, per client). The load
    # runner is called with no other threads running, which is what makes forking safe.
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(scripts) + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=_client_process,
            args=(port, script, duration, timeout, barrier, results, index),
            daemon=True,
        )
        for index, script in enumerate(scripts)
    ]
    for process in processes:
        process.start()
    try:
        try:
            barrier.wait(START_TIMEOUT_SECONDS)
        except threading.BrokenBarrierError as error:
            raise RuntimeError("load client processes did not start") from error
        tallies: list[ClientTally] = []
        give_up = time.monotonic() + duration + timeout + 10
        while len(tallies) < len(scripts):
            try:
                _, tally = results.get(timeout=max(0.1, give_up - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(
                    f"{len(scripts) - len(tallies)} load client processes did not stop"
                ) from None
            tallies.append(tally)
    finally:
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
        results.close()
    return _combine("processes", tallies)
