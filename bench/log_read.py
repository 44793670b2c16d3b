"""GetLogEvents from the end of a stream (the tail, `limit` 100) costs the same on a 1 MB stream as on
a 32 MB one, through the Logs API of a real server.

The soak found one tail read of a 31 MB stream costing 1.2 s of server CPU, because it read and parsed
the whole stream; reads now page by byte offset and read backwards from the end. Both streams are
written into the data directory before the server starts (as a server restarted over weeks of logs
finds them), then each is read `--repeat` times with boto3 over one keep-alive connection. Also
timed: DescribeLogStreams ordered by last event time (its stats come from memory after the first
call). Baseline, in the same run: the same reads of the 1 MB stream; the figure is the ratio.

Also timed: a read of a 10 ms time window in the middle of each stream, which the stream's time
index (built by its first time-bounded read, reported separately) finds without reading the rest.

Prints a JSON document and a table. Run: `python bench/log_read.py [--repeat 20]`.
Measured on the 2-core development machine (30 repeats): tail 100 in 3.4-5.4 ms on 1 MB and 3.6-5.4
ms on 33.5 MB (ratio 1.08-1.14x, about 1 ms of server CPU); before, in the same benchmark, 115 ms and
4.3 s (37.7x, 1.4 s of server CPU per read). A 10 ms window: 8-11 ms on either stream; the 33.5 MB
stream's first time-bounded read takes 0.32 s, in a thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import running_server

from bench.support.procfs import cpu_seconds

GROUP = "/bench/read"
EVENT_BYTES = 100  # about, as stored
STREAMS_MB = {"small": 1, "large": 32}


def _write_streams(logs_dir: Path, first_ms: int) -> dict[str, int]:
    from lamina.store.logs import FileLogStore

    store = FileLogStore(logs_dir)
    store.create_group(GROUP)
    counts = {}
    for stream, megabytes in STREAMS_MB.items():
        count = megabytes * 1_000_000 // EVENT_BYTES
        for start in range(0, count, 20_000):
            batch = [
                (
                    first_ms + index,
                    f"INFO request id={index:08d} path=/api/items/{index % 997} user=u{index % 5000}",
                )
                for index in range(start, min(start + 20_000, count))
            ]
            store.append(GROUP, stream, batch)
            store.flush()
        counts[stream] = count
    store.close()
    return counts


def _timed(calls: dict[str, Any], repeat: int, server_pid: int) -> dict[str, dict[str, float]]:
    """Each call `repeat` times, taking turns (so drift in the machine's speed hits them alike)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, float] = dict.fromkeys(calls, 0.0)
    for _ in range(repeat):
        for name, call in calls.items():
            cpu_before = cpu_seconds([server_pid])
            began = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - began) * 1000)
            cpu[name] += cpu_seconds([server_pid]) - cpu_before
    return {
        name: {
            "median_ms": round(statistics.median(values), 2),
            "min_ms": round(min(values), 2),
            "server_cpu_ms": round(cpu[name] * 1000 / repeat, 2),
        }
        for name, values in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json-only", action="store_true", help="print the JSON document alone")
    options = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        first_ms = int(time.time() * 1000) - 3_600_000
        counts = _write_streams(data_dir / "logs", first_ms)
        with running_server(data_dir) as server:
            logs = server.client("logs")
            calls: dict[str, Any] = {}
            index_ms: dict[str, float] = {}
            for stream in STREAMS_MB:

                def tail(stream: str = stream) -> None:
                    page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=100)
                    assert len(page["events"]) == 100

                def window(stream: str = stream) -> None:
                    middle = first_ms + counts[stream] // 2  # one event per millisecond
                    page = logs.get_log_events(
                        logGroupName=GROUP, logStreamName=stream, startTime=middle, endTime=middle + 10
                    )
                    assert len(page["events"]) == 10

                tail()  # warm: the connection and the page cache
                began = time.perf_counter()
                window()  # the stream's first time-bounded read builds its time index
                index_ms[stream] = round((time.perf_counter() - began) * 1000, 1)
                calls[stream] = tail
                calls[f"{stream}_window"] = window
            calls["describe"] = lambda: logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime")
            timings = _timed(calls, options.repeat, server.process.pid)
            for stream in STREAMS_MB:
                size = next((data_dir / "logs").rglob(f"{stream}.jsonl")).stat().st_size
                results[stream] = {
                    "events": counts[stream],
                    "megabytes": round(size / 1_000_000, 1),
                    "tail_100": timings[stream],
                    "window_10": timings[f"{stream}_window"],
                    "first_window_read_ms": index_ms[stream],
                }
            describe = timings["describe"]
    small, large = results["small"]["tail_100"], results["large"]["tail_100"]
    results["describe_log_streams"] = describe
    results["ratios"] = {
        "tail_large_vs_small": round(large["median_ms"] / small["median_ms"], 2),
        "window_large_vs_small": round(
            results["large"]["window_10"]["median_ms"] / results["small"]["window_10"]["median_ms"], 2
        ),
        "tail_server_cpu_large_vs_small": round(
            large["server_cpu_ms"] / max(small["server_cpu_ms"], 0.01), 2
        ),
    }
    print(json.dumps(results, indent=2))
    if options.json_only:
        return
    print()
    print(f"{'read':<28}{'stream MB':>10}{'median ms':>11}{'min ms':>9}{'server CPU ms':>15}")
    for key, label in (("tail_100", "GetLogEvents tail 100"), ("window_10", "GetLogEvents 10 ms window")):
        for stream in STREAMS_MB:
            row = results[stream]
            timing = row[key]
            print(
                f"{label:<28}{row['megabytes']:>10}{timing['median_ms']:>11.1f}"
                f"{timing['min_ms']:>9.1f}{timing['server_cpu_ms']:>15.1f}"
            )
    print(
        f"{'DescribeLogStreams':<28}{'':>10}{describe['median_ms']:>11.1f}{describe['min_ms']:>9.1f}"
        f"{describe['server_cpu_ms']:>15.1f}"
    )
    print(f"tail 32 MB / tail 1 MB = {results['ratios']['tail_large_vs_small']}x")
    print(f"window 32 MB / window 1 MB = {results['ratios']['window_large_vs_small']}x")
    print(
        f"first time-bounded read (builds the index): {results['small']['first_window_read_ms']} ms (1 MB), "
        f"{results['large']['first_window_read_ms']} ms (32 MB)"
    )


if __name__ == "__main__":
    main()
