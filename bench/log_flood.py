"""A function printing as fast as it can no longer slows the server: health and another function's
calls during a flood, against the same calls on the idle server.

Issue 12 found a 3 GB flood taking the server to 8.2 GB of RSS and its health endpoint past 20 s:
every line was held in memory and the backlog written on the event loop. Now lines are charged to a
per-function rate and dropped past it (execution/log_budget.py), and large writes go to a thread.

One real server (`--sandbox process`, default log limits unless `--log-limit` is given): a quiet
function is called and health read `--repeat` times idle (the baseline, same run), then again while
a flooder writes 1 KB lines with os.write for `--seconds` (at most `--flood-mb`). Reported: medians
and maxima of both, their ratios, the server's RSS before and at its peak, what the flooder wrote,
what reached the disk. Run: `python bench/log_flood.py [--seconds 8] [--repeat 30]`.

Measured on the 2-core development machine (8 s, defaults, two runs): the flooder wrote 3.8-4.2 GB;
server RSS 68 -> 83-95 MB; health 0.5 ms idle, 5 ms median (46-48 ms max) during the flood; a quiet
call 1.3 ms idle, 8 ms median (79-155 ms max) during it: the flooder and the server's reading of its
pipe take both cores. 49 MB reached the disk (16 MiB burst + 4 MiB/s). Before the budget, a 400 MB
flood on the same machine took RSS from 68 to 340 MB and a quiet call up to 6.1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.server import EXECUTION_ROLE, RunningServer, running_server

from bench.support.output import emit

FLOODER = """
import os, time

def handler(event, context):
    line = b"flood " + b"x" * 1017 + b"\\n"
    chunk = line * 64
    written = 0
    end = time.monotonic() + event["seconds"]
    while time.monotonic() < end and written < event["limit"]:
        written += os.write(1, chunk)
    return {"written": written}
"""
QUIET = 'def handler(event, context):\n    print("quiet")\n    return {"ok": True}\n'


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ms(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples), 1),
        "max_ms": round(max(samples), 1),
        "n": len(samples),
    }


def _create(server: RunningServer, name: str, source: str) -> None:
    client = server.client("lambda")
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=EXECUTION_ROLE,
        Handler="app.handler",
        Timeout=300,
        Code={"ZipFile": make_zip({"app.py": source})},
    )
    wait_active(client, name)


def measure(server: RunningServer, seconds: float, flood_mb: float, repeat: int) -> dict[str, Any]:
    client = server.client("lambda")
    _create(server, "flooder", FLOODER)
    _create(server, "quiet", QUIET)

    def health() -> None:
        with urllib.request.urlopen(f"{server.endpoint}/_lamina/health", timeout=120) as response:
            response.read()

    def quiet() -> None:
        client.invoke(FunctionName="quiet", Payload=b"{}")["Payload"].read()

    quiet()
    idle = {"health": [_ms(health) for _ in range(repeat)], "call": [_ms(quiet) for _ in range(repeat)]}
    rss_before = _rss_mb(server.process.pid)
    outcome: dict[str, Any] = {}
    event = json.dumps({"seconds": seconds, "limit": int(flood_mb * 1024 * 1024)}).encode()

    def flood() -> None:
        began = time.perf_counter()
        response = client.invoke(FunctionName="flooder", Payload=event)
        outcome.update(json.loads(response["Payload"].read()), seconds=time.perf_counter() - began)

    flooding = threading.Thread(target=flood)
    flooding.start()
    during: dict[str, list[float]] = {"health": [], "call": []}
    rss_peak = rss_before
    while flooding.is_alive():
        rss_peak = max(rss_peak, _rss_mb(server.process.pid))
        during["health"].append(_ms(health))
        during["call"].append(_ms(quiet))
    flooding.join()
    time.sleep(3)  # the last batch written, the quota measured
    disk = sum(path.stat().st_size for path in (server.data_dir / "logs").rglob("*.jsonl"))
    results: dict[str, Any] = {
        "flood": {
            "written_mb": round(outcome.get("written", 0) / 2**20, 1),
            "seconds": round(outcome["seconds"], 1),
            "on_disk_mb": round(disk / 2**20, 1),
        },
        "rss_mb": {"before": round(rss_before), "peak": round(rss_peak)},
        "idle": {name: _summary(samples) for name, samples in idle.items()},
        "during_flood": {name: _summary(samples) for name, samples in during.items() if samples},
    }
    results["ratios"] = {
        name: round(results["during_flood"][name]["median_ms"] / results["idle"][name]["median_ms"], 1)
        for name in results["during_flood"]
    }
    return results


def _table(results: dict[str, Any]) -> str:
    flood, rss = results["flood"], results["rss_mb"]
    rows = [
        f"flood: {flood['written_mb']} MB written in {flood['seconds']} s, {flood['on_disk_mb']} MB on disk",
        f"server RSS: {rss['before']} MB before, {rss['peak']} MB at peak",
        f"{'':8} {'idle median':>12} {'flood median':>13} {'flood max':>10} {'ratio':>6}",
    ]
    for name in results["during_flood"]:
        idle, during = results["idle"][name], results["during_flood"][name]
        rows.append(
            f"{name:8} {idle['median_ms']:>10} ms {during['median_ms']:>10} ms "
            f"{during['max_ms']:>7} ms {results['ratios'][name]:>5}x"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--flood-mb", type=float, default=100_000.0, help="stop the flood after this")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--log-limit", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--json-only", action="store_true", help="print the JSON document alone")
    options = parser.parse_args()
    limits = [argument for limit in options.log_limit for argument in ("--log-limit", limit)]
    with (
        tempfile.TemporaryDirectory() as scratch,
        running_server(Path(scratch) / "data", "--sandbox", "process", *limits) as server,
    ):
        results = measure(server, options.seconds, options.flood_mb, options.repeat)
    emit(results, _table, options.output, options.json_only)


if __name__ == "__main__":
    main()
