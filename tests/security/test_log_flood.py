"""Issue 12, attack 2: a function printing as fast as it can.

It once took the server from 141 MB to 8.2 GB of RSS, its health endpoint past 20 s and 4.6 GB to
disk. Now its lines are charged to a per-function rate and dropped beyond it (the function's stream
says how many), the server holds a bounded amount of them, writes them off the event loop, and the
account's logs stay under their disk quota. Small limits (`--log-limit`) keep the test quick.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.security.conftest import TIERS, create_function, invoke, server_in_tier
from tests.support.server import RunningServer

RATE = 256 * 1024
QUOTA = 8 * 1024 * 1024
LIMITS = [
    "--log-limit",
    f"rate_bytes={RATE}",
    "--log-limit",
    "burst_bytes=512K",
    "--log-limit",
    f"account_quota_bytes={QUOTA}",
]
# A flood of this long, at full speed, prints hundreds of MB to GBs (depending on the machine).
FLOOD_SECONDS = 8

FLOODER = """
import os, time

def handler(event, context):
    line = b"flood " + b"x" * 1017 + b"\\n"
    chunk = line * 64
    written = 0
    end = time.monotonic() + event["seconds"]
    while time.monotonic() < end:
        written += os.write(1, chunk)
    return {"written": written}
"""

QUIET = """
def handler(event, context):
    print("quiet", event.get("n"))
    return {"ok": True}
"""


@pytest.fixture(scope="module", params=TIERS)
def server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    with server_in_tier(request.param, *LIMITS) as running:
        yield running


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _health_answers(server: RunningServer) -> bool:
    """Health answers at all within 10 s: liveness on a loaded machine, not a latency bound."""
    try:
        with urllib.request.urlopen(f"{server.endpoint}/_lamina/health", timeout=10) as response:
            return json.loads(response.read())["status"] == "ok"
    except OSError:
        return False


def _matching(logs: Any, group: str, pattern: str) -> list[dict[str, Any]]:
    """Every event of `group` matching `pattern`, all pages (a page may stop at a scan limit)."""
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, filterPattern=pattern)
    return [event for page in pages for event in page["events"]]


def _log_bytes_on_disk(server: RunningServer) -> int:
    return sum(path.stat().st_size for path in (server.data_dir / "logs").rglob("*.jsonl"))


def test_a_flood_is_rate_limited_dropped_with_a_record_and_the_server_stays_well(
    server: RunningServer,
) -> None:
    flooder = create_function(server, {"app.py": FLOODER}, "app.handler", Timeout=60)
    quiet = create_function(server, {"app.py": QUIET}, "app.handler")
    invoke(server, quiet, {"n": 0})  # warm, and the baseline below includes its environment
    baseline_kb = _rss_kb(server.process.pid)

    outcome: dict[str, Any] = {}

    def flood() -> None:
        response, payload = invoke(server, flooder, {"seconds": FLOOD_SECONDS})
        outcome["response"], outcome["payload"] = response, payload

    flooding = threading.Thread(target=flood)
    flooding.start()
    peak_kb = baseline_kb
    health_failures = calls = 0
    try:
        while flooding.is_alive():
            peak_kb = max(peak_kb, _rss_kb(server.process.pid))
            health_failures += not _health_answers(server)
            response, payload = invoke(server, quiet, {"n": calls})
            assert "FunctionError" not in response and payload == {"ok": True}, payload
            calls += 1
            time.sleep(0.2)
    finally:
        flooding.join(120)
    assert "FunctionError" not in outcome["response"], outcome["payload"]
    written = outcome["payload"]["written"]
    assert written > 10 * (RATE * FLOOD_SECONDS), "the flood was too slow to test anything"
    assert health_failures == 0
    assert calls >= 1
    # Bounded memory: far less than what was printed (before: several times the printed bytes).
    assert (peak_kb - baseline_kb) * 1024 < 64 * 1024 * 1024, (peak_kb, baseline_kb, written)

    # The flooder's stream says how many records and bytes were dropped; what was kept is about
    # the budget (burst plus rate times duration), far below what was printed.
    logs = server.client("logs")
    group = f"/aws/lambda/{flooder}"
    found = _matching(logs, group, '"LOGS_DROPPED"')
    assert found, "no dropped-logs record"
    dropped = sum(
        int(m.group(1)) for m in (re.search(r"DroppedBytes: (\d+)", e["message"]) for e in found) if m
    )
    records = sum(
        int(m.group(1)) for m in (re.search(r"DroppedRecords: (\d+)", e["message"]) for e in found) if m
    )
    assert records > 0 and dropped > written // 2, (records, dropped, written)
    with urllib.request.urlopen(f"{server.endpoint}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    counted = re.search(r"^lamina_log_records_dropped_total (\S+)", metrics, re.MULTILINE)
    assert counted is not None and float(counted.group(1)) >= records * 0.99, metrics

    # The account's logs on disk end up under the quota (measured every few seconds).
    deadline = time.monotonic() + 60
    while _log_bytes_on_disk(server) > QUOTA and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _log_bytes_on_disk(server) <= QUOTA
    assert server.health()["status"] == "ok"


def test_the_quota_drops_the_oldest_streams_first(server: RunningServer) -> None:
    """Past the quota, the least recently written streams go first; the newest stays readable."""
    logs = server.client("logs")
    group = "quota-probe"
    logs.create_log_group(logGroupName=group)
    message = "y" * 200_000
    streams = [f"s{index}" for index in range(12)]
    for stream in streams:  # 12 streams of about 1 MB: more than the 8 MB quota
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        now = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": now, "message": message} for _ in range(5)],
        )
        time.sleep(0.05)  # distinct modification times
    deadline = time.monotonic() + 60
    while _log_bytes_on_disk(server) > QUOTA and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _log_bytes_on_disk(server) <= QUOTA
    left = {s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]}
    assert streams[-1] in left
    assert streams[0] not in left
    events = logs.get_log_events(logGroupName=group, logStreamName=streams[-1])["events"]
    assert len(events) == 5


def test_with_json_logs_the_drop_is_a_platform_logs_dropped_event(server: RunningServer) -> None:
    """LogFormat JSON: the record is the Telemetry API's platform.logsDropped, whatever the
    SystemLogLevel (it says lines are missing)."""
    name = create_function(
        server,
        {"app.py": FLOODER},
        "app.handler",
        Timeout=60,
        LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "WARN"},
    )
    response, payload = invoke(server, name, {"seconds": 2})
    assert "FunctionError" not in response, payload
    logs = server.client("logs")
    found = _matching(logs, f"/aws/lambda/{name}", '"platform.logsDropped"')
    records = [json.loads(event["message"]) for event in found]
    assert records, "no platform.logsDropped event"
    for record in records:
        assert record["type"] == "platform.logsDropped"
        assert set(record["record"]) == {"reason", "droppedRecords", "droppedBytes"}
        assert record["record"]["droppedRecords"] > 0 and record["record"]["droppedBytes"] > 0
