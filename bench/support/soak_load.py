"""The soak run's mixed load: what a busy account does all day, at a steady rate.

Operations (weights in MIX): synchronous and asynchronous (Event) invocations of one steady
function, whole function life cycles (create, update configuration and code, invoke, delete, each
with its own code so that stored packages pile up unless deletes remove them), log reads
(GetLogEvents, FilterLogEvents), IAM users created and deleted, and ListFunctions. A dispatcher
releases operations at a fixed rate into a short queue that a few worker threads drain, each with
its own boto3 clients (a client is thread-safe, but one per thread keeps connection pools apart);
when the workers fall behind, operations are skipped and counted rather than queued without
bound, so a slow server shows as a lower achieved rate instead of an ever-growing backlog.

Every asynchronous invocation the server accepts must run: its function prints a marker, and
`lost_async_events` looks for every marker in the function's log group at the end.
"""

from __future__ import annotations

import contextlib
import io
import json
import queue
import random
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STEADY_FUNCTION = "soak-steady"
ASYNC_MARKER = "SOAK-ASYNC"
MIX: dict[str, int] = {
    "invoke_sync": 35,
    "invoke_async": 20,
    "logs_read": 15,
    "list_functions": 10,
    "iam_user": 12,
    "function_cycle": 8,
}
STEADY_SOURCE = f"""
def handler(event, context):
    if event.get("async"):
        print("{ASYNC_MARKER}", event["marker"])
    return {{"marker": event.get("marker")}}
"""
KEPT_ERRORS = 20
READY_TIMEOUT_S = 60.0
LOG_WINDOW_S = 20.0


def code_zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    access_key: str
    secret_key: str
    region: str
    role: str  # the execution role functions are created with
    runtime: str  # the Runtime of every function the load creates

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(retries={"max_attempts": 1}, read_timeout=60, inject_host_prefix=False),
        )


@dataclass
class LoadState:
    """What the workers did so far; shared between threads under `lock`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    completed: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    accepted_async: list[str] = field(default_factory=list)
    sequence: int = 0

    def next_number(self) -> int:
        with self.lock:
            self.sequence += 1
            return self.sequence

    @property
    def operations(self) -> int:
        with self.lock:
            return sum(self.completed.values()) + sum(self.failed.values())


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.1)


class Worker:
    """One thread's clients and the operations of MIX."""

    def __init__(self, endpoint: Endpoint, state: LoadState) -> None:
        self._endpoint = endpoint
        self._state = state
        self._lambda = endpoint.client("lambda")
        self._logs = endpoint.client("logs")
        self._iam = endpoint.client("iam")

    def run(self, operation: str) -> None:
        {
            "invoke_sync": self.invoke_sync,
            "invoke_async": self.invoke_async,
            "logs_read": self.logs_read,
            "list_functions": self.list_functions,
            "iam_user": self.iam_user,
            "function_cycle": self.function_cycle,
        }[operation]()

    def invoke_sync(self) -> None:
        marker = f"S-{self._state.next_number()}"
        response = self._lambda.invoke(FunctionName=STEADY_FUNCTION, Payload=json.dumps({"marker": marker}))
        payload = response["Payload"].read()
        if response["StatusCode"] != 200 or "FunctionError" in response or marker.encode() not in payload:
            raise AssertionError(
                f"Invoke: {response['StatusCode']} {response.get('FunctionError')} {payload[:200]!r}"
            )

    def invoke_async(self) -> None:
        marker = f"A-{self._state.next_number()}"
        response = self._lambda.invoke(
            FunctionName=STEADY_FUNCTION,
            InvocationType="Event",
            Payload=json.dumps({"marker": marker, "async": True}),
        )
        if response["StatusCode"] != 202:
            raise AssertionError(f"Invoke Event: {response['StatusCode']}")
        with self._state.lock:
            self._state.accepted_async.append(marker)

    def logs_read(self) -> None:
        group = f"/aws/lambda/{STEADY_FUNCTION}"
        if self._state.next_number() % 2:
            # A fixed window, full by the end of the warm-up of a run of 2 minutes or more: a read
            # whose cost grew with the run's logs, or with a window still filling, would make CPU
            # per operation grow without anything leaking.
            since = int((time.time() - LOG_WINDOW_S) * 1000)
            self._logs.filter_log_events(
                logGroupName=group, filterPattern=ASYNC_MARKER, startTime=since, limit=50
            )
            return
        streams = self._logs.describe_log_streams(
            logGroupName=group, orderBy="LastEventTime", descending=True, limit=1
        )["logStreams"]
        if streams:
            self._logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"], limit=50)

    def list_functions(self) -> None:
        self._lambda.list_functions(MaxItems=50)

    def iam_user(self) -> None:
        name = f"soak-user-{self._state.next_number()}"
        self._iam.create_user(UserName=name)
        self._iam.get_user(UserName=name)
        self._iam.delete_user(UserName=name)

    def function_cycle(self) -> None:
        """Create, reconfigure, replace the code of, invoke and delete a function of its own."""
        number = self._state.next_number()
        name = f"soak-cycle-{number}"
        functions = self._lambda
        functions.create_function(
            FunctionName=name,
            Runtime=self._endpoint.runtime,
            Role=self._endpoint.role,
            Handler="app.handler",
            Code={"ZipFile": code_zip(f"# cycle {number}\n{STEADY_SOURCE}")},
        )
        try:
            self._wait_ready(name)
            functions.update_function_configuration(
                FunctionName=name, MemorySize=256, Environment={"Variables": {"CYCLE": str(number)}}
            )
            self._wait_ready(name)
            functions.update_function_code(
                FunctionName=name, ZipFile=code_zip(f"# cycle {number}, second code\n{STEADY_SOURCE}")
            )
            self._wait_ready(name)
            response = functions.invoke(FunctionName=name, Payload=json.dumps({"marker": name}))
            if "FunctionError" in response:
                raise AssertionError(f"Invoke {name}: {response['Payload'].read()[:200]!r}")
        finally:
            functions.delete_function(FunctionName=name)

    def _wait_ready(self, name: str) -> None:
        def ready() -> bool:
            configuration = self._lambda.get_function_configuration(FunctionName=name)
            return configuration.get("State") == "Active" and configuration.get("LastUpdateStatus") in (
                None,
                "Successful",
            )

        _wait_until(ready, f"{name} ready")


def create_steady_function(endpoint: Endpoint) -> None:
    functions = endpoint.client("lambda")
    with contextlib.suppress(functions.exceptions.ResourceConflictException):
        functions.create_function(
            FunctionName=STEADY_FUNCTION,
            Runtime=endpoint.runtime,
            Role=endpoint.role,
            Handler="app.handler",
            Code={"ZipFile": code_zip(STEADY_SOURCE)},
        )
    _wait_until(
        lambda: functions.get_function_configuration(FunctionName=STEADY_FUNCTION).get("State") == "Active",
        f"{STEADY_FUNCTION} active",
    )
    functions.invoke(FunctionName=STEADY_FUNCTION, Payload=b"{}")  # its log group exists from here on


def run_load(
    endpoint: Endpoint,
    state: LoadState,
    *,
    rate: float,
    workers: int,
    seconds: float,
    seed: int,
) -> None:
    """Release operations at `rate` per second for `seconds`, drained by `workers` threads."""
    rng = random.Random(seed)
    names, weights = list(MIX), list(MIX.values())
    pending: queue.Queue[str | None] = queue.Queue(maxsize=workers * 2)

    def work() -> None:
        worker = Worker(endpoint, state)
        while (operation := pending.get()) is not None:
            try:
                worker.run(operation)
            except Exception as error:
                with state.lock:
                    state.failed[operation] += 1
                    if len(state.errors) < KEPT_ERRORS:
                        state.errors.append(f"{operation}: {type(error).__name__}: {str(error)[:300]}")
            else:
                with state.lock:
                    state.completed[operation] += 1

    threads = [
        threading.Thread(target=work, name=f"soak-worker-{index}", daemon=True) for index in range(workers)
    ]
    for thread in threads:
        thread.start()
    interval = 1.0 / rate
    started = time.monotonic()
    next_release = started
    while next_release < started + seconds:
        delay = next_release - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            pending.put_nowait(rng.choices(names, weights)[0])
        except queue.Full:
            with state.lock:
                state.skipped += 1
        next_release += interval
    for _ in threads:
        pending.put(None)
    for thread in threads:
        thread.join()


def lost_async_events(endpoint: Endpoint, accepted: list[str], wait_s: float) -> list[str]:
    """Markers of accepted Event invocations not found in the steady function's logs after up to
    `wait_s` seconds (asynchronous delivery may trail the load)."""
    logs = endpoint.client("logs")
    missing = set(accepted)
    deadline = time.monotonic() + wait_s
    while missing:
        found: set[str] = set()
        paginator = logs.get_paginator("filter_log_events")
        for page in paginator.paginate(
            logGroupName=f"/aws/lambda/{STEADY_FUNCTION}", filterPattern=ASYNC_MARKER
        ):
            for event in page["events"]:
                words = event["message"].split()
                if len(words) >= 2 and words[0] == ASYNC_MARKER:
                    found.add(words[1])
        missing -= found
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(2)
    return sorted(missing)
