"""Nothing accepted is lost when the server is SIGKILLed: every Event invocation answered 202 runs
and its log lines are kept, whether the kill finds it queued, running or just finished; a
synchronous invocation's lines are kept once its caller has the response.

Events may run twice (AWS promises at least once), but only those a kill caught unacknowledged:
running (at most CONCURRENCY, the memory budget's limit) or finished and waiting for the group
commit that makes their lines durable (it runs every 0.05 s; the function sleeps 0.2 s, so even a
commit slowed fourfold by a loaded machine or a remote database leaves at most one finished event
per environment waiting). So a kill may repeat at most 2 × CONCURRENCY of them; a delivery that
re-ran acknowledged events would exceed that. (With a 0.05 s sleep, CI's PostgreSQL pass on two
cores saw 9 and 11: commits there take longer than a run.) The functions only print, so these tests run in every
sandbox tier (LAMINA_TEST_SANDBOX).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.lambda_calls import create_function
from tests.support.server import RunningServer, start_server

FUNCTION = "sleeper"
GROUP = f"/aws/lambda/{FUNCTION}"
MEMORY_MB = 128
CONCURRENCY = 4
# The memory budget holds CONCURRENCY environments of the function: no more events run at once.
# Retries come after 0.2 s rather than AWS's minutes.
SERVER_ARGS = ("--memory-budget", str(CONCURRENCY * MEMORY_MB), "--async-retry-delays", "0.2,0.2")

SLEEPER = """\
import time

def handler(event, context):
    time.sleep(0.2)
    print("GOT", event["i"])
    return event["i"]
"""


def got_lines(server: RunningServer) -> Counter[int]:
    """How many times each `GOT i` line is in the function's log group, read through the Logs API."""
    logs = server.client("logs")
    seen: Counter[int] = Counter()
    try:
        for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=GROUP, filterPattern='"GOT"'
        ):
            for event in page["events"]:
                words = event["message"].split()
                if len(words) == 2 and words[0] == "GOT":
                    seen[int(words[1])] += 1
    except logs.exceptions.ResourceNotFoundException:
        pass  # nothing has run yet
    return seen


def queue_depth(server: RunningServer) -> int:
    """Event invocations accepted and not yet settled (Prometheus's lamina_async_queue_depth)."""
    with urllib.request.urlopen(f"{server.endpoint}/metrics", timeout=5) as response:
        text = response.read().decode()
    return int(
        float(
            next(
                line.split()[1] for line in text.splitlines() if line.startswith("lamina_async_queue_depth ")
            )
        )
    )


def drained(server: RunningServer) -> Counter[int]:
    """The `GOT` lines once every queued event is settled (the server restores the queue before it
    listens, so a depth of 0 means none is left to run)."""
    wait_until(lambda: queue_depth(server) == 0)
    return got_lines(server)


def wait_until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.25)


def kill(server: RunningServer) -> None:
    os.kill(server.process.pid, signal.SIGKILL)
    assert server.process.wait(10) == -signal.SIGKILL


def send_events(client: Any, numbers: range) -> None:
    for number in numbers:
        response = client.invoke(
            FunctionName=FUNCTION, InvocationType="Event", Payload=json.dumps({"i": number})
        )
        assert response["StatusCode"] == 202


def kill_under_load(data_dir: Path, kills: int, events_per_round: int, seed: int) -> tuple[int, int]:
    """Each round sends events then kills the server after a random pause (0 to 0.5 s: events are
    queued, running and just finished at the kill) and starts it again on the same data directory.
    Asserts every event's line is present once the last life has drained the queue. Returns
    (events, duplicates)."""
    chance = random.Random(seed)
    server = start_server(data_dir, *SERVER_ARGS)
    try:
        create_function(
            server.client("lambda"), FUNCTION, {"app.py": SLEEPER}, MemorySize=MEMORY_MB, Timeout=30
        )
        sent = 0
        for _ in range(kills):
            send_events(server.client("lambda"), range(sent, sent + events_per_round))
            sent += events_per_round
            time.sleep(chance.uniform(0.0, 0.5))
            kill(server)
            server = start_server(data_dir, *SERVER_ARGS)
        seen = drained(server)
    finally:
        server.stop()
    assert set(seen) == set(range(sent)), f"seed {seed}: lost {sorted(set(range(sent)) - set(seen))}"
    duplicates = sum(count - 1 for count in seen.values())
    assert duplicates <= kills * 2 * CONCURRENCY, f"seed {seed}: {duplicates} events ran twice"
    return sent, duplicates


def test_every_event_answered_202_runs_and_keeps_its_lines_after_a_sigkill(tmp_path: Path) -> None:
    """The measurement of the issue: 100 events, the kill right after the last 202."""
    data_dir = tmp_path / "data"
    server = start_server(data_dir, *SERVER_ARGS)
    try:
        create_function(
            server.client("lambda"), FUNCTION, {"app.py": SLEEPER}, MemorySize=MEMORY_MB, Timeout=30
        )
        send_events(server.client("lambda"), range(100))
        kill(server)
        server = start_server(data_dir, *SERVER_ARGS)
        seen = drained(server)
    finally:
        server.stop()
    assert set(seen) == set(range(100)), f"lost {sorted(set(range(100)) - set(seen))}"
    assert sum(count - 1 for count in seen.values()) <= 2 * CONCURRENCY


def test_nothing_is_lost_over_kills_at_random_moments(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    kill_under_load(tmp_path / "data", kills=4, events_per_round=25, seed=seed)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_nothing_is_lost_over_twenty_kills_at_random_moments(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    events, duplicates = kill_under_load(tmp_path / "data", kills=20, events_per_round=25, seed=seed)
    print(f"seed {seed}: {events} events, 20 kills, {duplicates} ran twice")


def test_a_synchronous_invocations_lines_survive_a_kill_right_after_its_response(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, *SERVER_ARGS)
    try:
        create_function(server.client("lambda"), FUNCTION, {"app.py": SLEEPER}, MemorySize=MEMORY_MB)
        for number in range(3):
            response = server.client("lambda").invoke(
                FunctionName=FUNCTION, Payload=json.dumps({"i": number})
            )
            assert json.loads(response["Payload"].read()) == number
            kill(server)  # the periodic flush (every 0.2 s) has most likely not run since
            server = start_server(data_dir, *SERVER_ARGS)
        assert got_lines(server) == {0: 1, 1: 1, 2: 1}
    finally:
        server.stop()


def test_a_log_group_can_be_deleted_right_after_its_function(tmp_path: Path) -> None:
    """The group exists from its function's first line, written or still buffered."""
    server = start_server(tmp_path / "data", *SERVER_ARGS)
    try:
        lambda_client, logs = server.client("lambda"), server.client("logs")
        for round_number in range(5):
            name = f"short-lived-{round_number}"
            create_function(lambda_client, name, {"app.py": SLEEPER})
            lambda_client.invoke(FunctionName=name, Payload=json.dumps({"i": round_number}))
            lambda_client.delete_function(FunctionName=name)
            logs.delete_log_group(logGroupName=f"/aws/lambda/{name}")
            assert logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"] == []
    finally:
        server.stop()
