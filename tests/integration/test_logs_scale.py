"""A large log group does not slow the server down: Logs API reads of a 32 MB stream run off the
event loop (invocations complete while one is in progress) and tail reads, stream listings and
searches return the right events at that size."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.server import EXECUTION_ROLE, RunningServer, files_only, running_server

pytestmark = files_only

GROUP = "/scale/big"
EVENTS = 320_000  # ~100 bytes each: a 32 MB stream
MIXED_EVENTS = 160_000
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, int]]:
    """A server whose data directory starts with a 32 MB stream (written before it starts, as a
    server restarted over a month of logs would find it), and a function to invoke.

    Also a 16 MB stream out of time order (every other event an hour older: two writers' clocks),
    where a read for a time range that holds nothing cannot skip anything: the slow read."""
    from lamina.store.logs import FileLogStore

    data_dir = tmp_path_factory.mktemp("scale") / "data"
    first_ms = int(time.time() * 1000) - 2 * HOUR_MS
    store = FileLogStore(data_dir / "logs")
    store.create_group(GROUP)
    for batch_start in range(0, EVENTS, 20_000):
        batch = [
            (first_ms + index * 10, "RARE needle" if index == EVENTS // 2 else _message(index))
            for index in range(batch_start, batch_start + 20_000)
        ]
        store.append(GROUP, "big", batch)
        store.flush()
    for batch_start in range(0, MIXED_EVENTS, 20_000):
        indexes = range(batch_start, batch_start + 20_000)
        store.append(
            GROUP,
            "mixed",
            [(first_ms + (index if index % 2 else index - HOUR_MS), _message(index)) for index in indexes],
        )
        store.flush()
    store.close()
    with running_server(data_dir, "--keep-alive", "60") as server:
        client = server.client("lambda")
        client.create_function(
            FunctionName="echo",
            Runtime="python3.11",
            Role=EXECUTION_ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": "def handler(event, context):\n    return event\n"})},
        )
        wait_active(client, "echo")
        yield server, first_ms


def _read_nothing_slowly(
    logs: Any, first_ms: int, done: threading.Event, failures: list[BaseException]
) -> None:
    try:
        empty = logs.get_log_events(
            logGroupName=GROUP,
            logStreamName="mixed",
            startFromHead=True,
            startTime=first_ms - HOUR_MS // 2,  # between the older and the newer events
            endTime=first_ms - HOUR_MS // 4,
        )
        assert empty["events"] == []
    except BaseException as error:  # reported by the test's thread
        failures.append(error)
    finally:
        done.set()


def _message(index: int) -> str:
    return json.dumps({"level": "INFO", "n": index, "path": f"/api/items/{index % 997}", "status": 200})


def test_tail_listing_and_search_of_a_large_stream(big_server: tuple[RunningServer, int]) -> None:
    server, first_ms = big_server
    logs = server.client("logs")
    tail = logs.get_log_events(logGroupName=GROUP, logStreamName="big", limit=100)
    assert [event["timestamp"] for event in tail["events"]] == [
        first_ms + index * 10 for index in range(EVENTS - 100, EVENTS)
    ]
    earlier = logs.get_log_events(
        logGroupName=GROUP, logStreamName="big", limit=100, nextToken=tail["nextBackwardToken"]
    )
    assert earlier["events"][-1]["timestamp"] == first_ms + (EVENTS - 101) * 10
    streams = logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime")["logStreams"]
    assert [item["logStreamName"] for item in streams] == ["mixed", "big"]
    stream = streams[1]
    assert (stream["firstEventTimestamp"], stream["lastEventTimestamp"]) == (
        first_ms,
        first_ms + (EVENTS - 1) * 10,
    )
    found = logs.filter_log_events(logGroupName=GROUP, filterPattern='"RARE needle"')["events"]
    assert [event["timestamp"] for event in found] == [first_ms + EVENTS // 2 * 10]
    # Bounded by time: the stream's time index finds the range without reading the rest.
    middle = first_ms + EVENTS // 2 * 10
    window = logs.get_log_events(
        logGroupName=GROUP,
        logStreamName="big",
        startFromHead=True,
        startTime=middle - 20,
        endTime=middle + 30,
    )
    assert [event["timestamp"] for event in window["events"]] == [
        middle + offset for offset in range(-20, 30, 10)
    ]
    assert window["events"][2]["message"] == "RARE needle"
    in_window = logs.filter_log_events(
        logGroupName=GROUP,
        logStreamNames=["big"],
        filterPattern="RARE",
        startTime=middle - 10,
        endTime=middle,
    )
    assert [event["message"] for event in in_window["events"]] == ["RARE needle"]


def test_invocations_complete_while_a_slow_log_read_is_in_progress(
    big_server: tuple[RunningServer, int],
) -> None:
    """A GetLogEvents whose time window holds nothing reads the whole out-of-order stream; it must
    not hold the event loop: sequential invocations started after it keep completing before it
    returns."""
    server, first_ms = big_server
    logs, functions = server.client("logs"), server.client("lambda")
    functions.invoke(FunctionName="echo", Payload=b"{}")  # warm: the measure is the event loop
    best = 0
    for _ in range(3):  # a slow read races invocations; one that shows overlap is enough
        done = threading.Event()
        failures: list[BaseException] = []
        reader = threading.Thread(target=_read_nothing_slowly, args=(logs, first_ms, done, failures))
        reader.start()
        completed_during = 0
        while not done.is_set():
            result: Any = functions.invoke(FunctionName="echo", Payload=b'{"n": 1}')
            assert json.loads(result["Payload"].read()) == {"n": 1}
            if not done.is_set():
                completed_during += 1
        reader.join()
        assert not failures, failures
        best = max(best, completed_during)
        if best >= 3:
            break
    # On the event loop, the read would let at most the one invocation already in flight finish.
    assert best >= 3


def test_the_data_directory_holds_the_large_stream(big_server: tuple[RunningServer, int]) -> None:
    server, _ = big_server
    path = server.data_dir / "logs" / "%2Fscale%2Fbig" / "big.jsonl"
    assert path.stat().st_size > 30_000_000
