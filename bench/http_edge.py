"""Does the hand-written HTTP server still earn its place? Lamina's lean server against uvicorn's
httptools protocol with a bare ASGI app, both hardened, doing the same work (Lamina issue 11).

    python bench/http_edge.py            # about two minutes on 2 cores
    python bench/http_edge.py --quick    # a few seconds, small counts

Each server runs in its own process on uvloop, bound to 127.0.0.1, and answers every request with
the same 11-byte JSON document; nothing else differs. Lamina's runs with its default `HttpLimits`
(header, body and idle timeouts, size limits, the connection cap, write back-pressure); uvicorn
with the limits it offers for this protocol (`timeout_keep_alive=60`, `limit_concurrency`; it has
no header-size or receive-time limits of its own), and without its Date and Server headers, which
Lamina does not send either. The load comes from the closed-loop clients of `bench/support/` in
three phases: 1 and 8 clients on keep-alive connections, and 8 clients opening a new connection
for each request (the accept path). Servers take turns, in alternating order, for `--rounds`
rounds; the table shows medians over rounds and Lamina's ratio to uvicorn (the in-run baseline).
Prints one JSON document, then the table. uvicorn is not a dependency of Lamina: without it the
benchmark says so and exits 0 (`pip install uvicorn`, or the `bench` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import procfs
from bench.support.load import ClientMode, ClientScript, run_load

BODY = b'{"ok":true}'
SERVERS = ("lamina", "uvicorn")
KEEP_ALIVE = b"GET /ping HTTP/1.1\r\nHost: bench\r\n\r\n"
CLOSE = b"GET /ping HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
# (name, clients, request): what each phase sends.
PHASES = (("keep_alive_1", 1, KEEP_ALIVE), ("keep_alive_8", 8, KEEP_ALIVE), ("new_connection_8", 8, CLOSE))
MAX_REQUESTS_PER_CLIENT = 1_000_000
START_TIMEOUT_SECONDS = 20.0


# The servers, each run as `python bench/http_edge.py --serve NAME --port N` ------------------------
def _serve_lamina(port: int) -> None:
    import uvloop

    from lamina.transport.http11 import LeanRequest, LeanResponse
    from lamina.transport.limits import HttpLimits
    from lamina.transport.listener import HttpListener

    answer = LeanResponse(200, BODY)

    async def handle(request: LeanRequest) -> LeanResponse:
        return answer

    async def main() -> None:
        listener = HttpListener(handle, HttpLimits())
        await listener.bind("127.0.0.1", port)
        await asyncio.Event().wait()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


def _serve_uvicorn(port: int) -> None:
    import uvicorn

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
            }
        )
        await send({"type": "http.response.body", "body": BODY})

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=60,
        limit_concurrency=10_000,
        server_header=False,
        date_header=False,
    )
    uvicorn.Server(config).run()


# The benchmark ----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running(name: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """One server process, ready to serve; stopped on exit."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", name, "--port", str(port)]
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the {name} server exited with status {process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {name} server did not start") from None
                time.sleep(0.05)
        yield process, port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def measure(name: str, duration: float, mode: ClientMode) -> dict[str, Any]:
    """Every phase against one fresh server process."""
    results: dict[str, Any] = {}
    with running(name) as (process, port):
        warm = ClientScript((KEEP_ALIVE,), 2000, BODY)
        run_load(port, [warm], duration=1.0, mode="threads")
        for phase, clients, request in PHASES:
            scripts = [ClientScript((request,), MAX_REQUESTS_PER_CLIENT, BODY) for _ in range(clients)]
            cpu_before = procfs.cpu_seconds([process.pid])
            load = run_load(port, scripts, duration=duration, mode=mode)
            summary = load.summary()
            completed = load.succeeded + load.failed + load.throttled
            summary["server_cpu_us_per_request"] = (
                round((procfs.cpu_seconds([process.pid]) - cpu_before) * 1e6 / completed, 1)
                if completed
                else None
            )
            results[phase] = summary
    return results


def _median(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(statistics.median(present), 3) if present else None


def summarize(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Per phase and server: medians over rounds, and Lamina's ratio to uvicorn."""
    summary: dict[str, Any] = {}
    for phase, _, _ in PHASES:
        entry: dict[str, Any] = {}
        for name in SERVERS:
            runs = [one[name][phase] for one in rounds if name in one]
            entry[name] = {
                key: _median([run[key] for run in runs])
                for key in (
                    "per_second",
                    "latency_median_ms",
                    "latency_p99_ms",
                    "server_cpu_us_per_request",
                    "errors",
                    "timeouts",
                )
            }
        lamina, uvicorn = entry["lamina"]["per_second"], entry["uvicorn"]["per_second"]
        entry["lamina_vs_uvicorn_per_second"] = round(lamina / uvicorn, 3) if lamina and uvicorn else None
        summary[phase] = entry
    return summary


def render(summary: dict[str, Any]) -> str:
    header = f"{'phase':<18}{'server':<9}{'req/s':>10}{'median ms':>11}{'p99 ms':>9}{'cpu µs/req':>12}"
    lines = [header, "-" * len(header)]
    for phase, entry in summary.items():
        for name in SERVERS:
            row = entry[name]
            lines.append(
                f"{phase:<18}{name:<9}{row['per_second'] or 0:>10.0f}{row['latency_median_ms'] or 0:>11.3f}"
                f"{row['latency_p99_ms'] or 0:>9.3f}{row['server_cpu_us_per_request'] or 0:>12.1f}"
            )
        lines.append(
            f"{'':<18}{'ratio':<9}{entry['lamina_vs_uvicorn_per_second'] or 0:>10.2f}x  (lamina/uvicorn)"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--client-mode", choices=("threads", "processes"), default="threads")
    parser.add_argument("--json-only", action="store_true", help="print the JSON document alone")
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve is not None:
        (_serve_lamina if options.serve == "lamina" else _serve_uvicorn)(options.port)
        return
    try:
        import uvicorn
    except ImportError:
        print("bench/http_edge.py: uvicorn is not installed (pip install uvicorn); nothing measured.")
        return
    rounds_count, duration = (1, 1.0) if options.quick else (options.rounds, options.duration)
    rounds: list[dict[str, dict[str, Any]]] = []
    for index in range(rounds_count):
        order = SERVERS if index % 2 == 0 else tuple(reversed(SERVERS))
        rounds.append({name: measure(name, duration, options.client_mode) for name in order})
    summary = summarize(rounds)
    document = {
        "benchmark": "http_edge",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": procfs.machine_info(),
        "uvicorn": uvicorn.__version__,
        "plan": {"rounds": rounds_count, "duration_s": duration, "client_mode": options.client_mode},
        "summary": summary,
        "rounds": rounds,
    }
    print(json.dumps(document, indent=2))
    if not options.json_only:
        print()
        print(render(summary))


if __name__ == "__main__":
    main()
