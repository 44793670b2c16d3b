"""FilterLogEvents over a million log events, through the Logs API of a real server.

Writes `--events` events (default 1,000,000) across 10 streams of one log group with PutLogEvents,
a handful of them holding a rare term, then times FilterLogEvents (boto3, one keep-alive connection):
- a selective term (`"payment-declined"`: 10 matching events), the case the issue targets;
- a selective term restricted to a time window;
- a JSON pattern (`{ $.status = 503 }`), which decodes every event whose message is a JSON object.
Baseline, measured in the same run on the same files: a plain scan that decodes every stored record
and tests the term (what a store without the pre-check does).

Prints a JSON document and a table. Run: `python bench/log_search.py [--events 1000000 --repeat 7]`.
Measured on the 2-core development machine: 93 ms for the selective term over 1,000,000 events,
0.055x the plain scan (1.69 s); 0.80 s for the JSON pattern, which decodes every JSON event (a tenth
of them here) but skips the others by their raw bytes.
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

GROUP = "/bench/search"
STREAMS = 10
BATCH = 10_000
RARE = "payment-declined"
RARE_EVERY = 100_000  # one rare event per this many


def _message(index: int) -> str:
    if index % RARE_EVERY == RARE_EVERY // 2:
        return f"ERROR {RARE} order={index} amount=42.00"
    if index % 10 == 0:
        return json.dumps({"level": "INFO", "status": 503 if index % 50_000 == 0 else 200, "n": index})
    return f"INFO request id={index:08d} path=/api/items/{index % 997} latency={index % 300}ms user=u{index % 5000}"


def _populate(logs: Any, events: int, start_ms: int) -> float:
    began = time.perf_counter()
    per_stream = events // STREAMS
    for stream_number in range(STREAMS):
        stream = f"stream-{stream_number}"
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        for batch_start in range(0, per_stream, BATCH):
            batch = [
                {"timestamp": start_ms + offset, "message": _message(stream_number * per_stream + offset)}
                for offset in range(batch_start, min(batch_start + BATCH, per_stream))
            ]
            logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=batch)
    return time.perf_counter() - began


def _timed(call: Any, repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - began) * 1000)
    return times, result


def _naive_scan(logs_dir: Path, term: str) -> int:
    """Decode every stored record of the group and test the term."""
    found = 0
    for path in sorted(logs_dir.rglob("*.jsonl")):
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                if "m" in record and term in record["m"]:
                    found += 1
    return found


def _summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(times), 2),
        "min_ms": round(min(times), 2),
        "count": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json-only", action="store_true", help="print the JSON document alone")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, running_server(Path(scratch) / "data") as server:
        logs = server.client("logs")
        logs.create_log_group(logGroupName=GROUP)
        start_ms = int(time.time() * 1000) - options.events  # one event per millisecond, up to now
        populate_s = _populate(logs, options.events, start_ms)
        logs.filter_log_events(logGroupName=GROUP, filterPattern="warm-up-term")  # file cache warm

        selective, found = _timed(
            lambda: logs.filter_log_events(logGroupName=GROUP, filterPattern=f'"{RARE}"'), options.repeat
        )
        window_start = start_ms + options.events // STREAMS // 4
        windowed, _ = _timed(
            lambda: logs.filter_log_events(
                logGroupName=GROUP,
                filterPattern=RARE,
                startTime=window_start,
                endTime=window_start + options.events // STREAMS // 2,
            ),
            options.repeat,
        )
        json_times, json_found = _timed(
            lambda: logs.filter_log_events(logGroupName=GROUP, filterPattern="{ $.status = 503 }"),
            max(3, options.repeat // 2),
        )
        logs_dir = server.data_dir / "logs"
        naive, naive_found = _timed(lambda: _naive_scan(logs_dir, RARE), max(3, options.repeat // 2))
    results: dict[str, Any] = {
        "events": options.events,
        "streams": STREAMS,
        "populate_seconds": round(populate_s, 1),
        "selective_term": {**_summary(selective), "matches": len(found["events"])},
        "selective_term_in_time_window": _summary(windowed),
        "json_pattern": {**_summary(json_times), "matches": len(json_found["events"])},
        "naive_scan_baseline": {**_summary(naive), "matches": naive_found},
    }
    results["ratios"] = {
        "selective_vs_naive": round(
            results["selective_term"]["median_ms"] / results["naive_scan_baseline"]["median_ms"], 3
        )
    }
    print(json.dumps(results, indent=2))
    if options.json_only:
        return
    print()
    print(f"{options.events:,} events in {STREAMS} streams (written in {results['populate_seconds']} s)")
    print(f"{'search':<32}{'median ms':>12}{'min ms':>10}{'matches':>9}")
    for key in ("selective_term", "selective_term_in_time_window", "json_pattern", "naive_scan_baseline"):
        row = results[key]
        print(f"{key:<32}{row['median_ms']:>12.1f}{row['min_ms']:>10.1f}{row.get('matches', ''):>9}")
    print(f"selective term / naive scan = {results['ratios']['selective_vs_naive']}x")


if __name__ == "__main__":
    main()
