"""`lamina server --workers N`: several processes on one port that behave as one server, driven
through boto3 with a new connection for most calls (so the kernel spreads them over the workers):
one view of functions, one warm environment whichever process gets the call, limits that hold across
processes, async events delivered once, and a killed worker replaced without leaking its counts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.lambda_calls import create_function, wait_updated
from tests.support.server import RunningServer, running_server

STAGE = {"app.py": "import os\ndef handler(event, context):\n    return os.environ.get('STAGE', 'none')\n"}
SLOW = {
    "app.py": "import time\ndef handler(event, context):\n"
    "    print('RAN', event.get('n'))\n    time.sleep(event.get('sleep', 0))\n    return 'done'\n"
}


def wait_for_workers(server: RunningServer, count: int, timeout: float = 60) -> dict[str, Any]:
    """Health once `count` processes serve the port (workers start after the primary listens)."""
    deadline = time.monotonic() + timeout
    while True:
        health = server.health()
        if health["workers"] == count and len(health.get("workerPools", [])) == count:
            return health
        assert time.monotonic() < deadline, f"workers never all served: {health}"
        time.sleep(0.1)


def no_retry_client(server: RunningServer) -> Any:
    """A Lambda client of its own (a new connection, which any worker may receive) that does not
    retry: what happened to a call is what the test sees."""
    import boto3
    from botocore.config import Config

    from tests.support.server import ACCESS_KEY, REGION, SECRET_KEY

    return boto3.client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
    )


def invoke_fresh(
    server: RunningServer, name: str, payload: dict[str, Any] | None = None, **options: Any
) -> Any:
    """Invoke through a client of its own that does not retry."""
    client = no_retry_client(server)
    try:
        response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **options)
        return json.loads(response["Payload"].read() or b"null")
    finally:
        client.close()


def prometheus(server: RunningServer) -> dict[str, float]:
    with urllib.request.urlopen(f"{server.endpoint}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        name: float(value)
        for name, _, value in (line.rpartition(" ") for line in text.splitlines() if line and line[0] != "#")
    }


def test_workers_share_one_view_of_functions_and_one_warm_environment(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", "--workers", "3") as server:
        health = wait_for_workers(server, 3)
        assert len({pool["pid"] for pool in health["workerPools"]}) == 3
        client = server.client("lambda")
        create_function(client, "stage", STAGE, Environment={"Variables": {"STAGE": "one"}})

        assert {invoke_fresh(server, "stage") for _ in range(16)} == {"one"}
        # Whichever process the kernel gave a connection, the one warm environment answered.
        assert prometheus(server)["lamina_cold_starts_total"] == 1

        client.update_function_configuration(
            FunctionName="stage", Environment={"Variables": {"STAGE": "two"}}
        )
        wait_updated(client, "stage")
        # Every worker applied the change before the update was answered: no call sees the old one.
        assert {invoke_fresh(server, "stage") for _ in range(16)} == {"two"}

        metrics = prometheus(server)
        assert metrics['lamina_invocations_total{outcome="success"}'] == 32
        health = server.health()
        assert health["environments"] == sum(pool["environments"] for pool in health["workerPools"]) >= 1

        client.delete_function(FunctionName="stage")
        with pytest.raises(ClientError) as gone:
            invoke_fresh(server, "stage")
        assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_reserved_concurrency_and_the_memory_budget_hold_across_workers(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", "--workers", "2", "--memory-budget", "700") as server:
        wait_for_workers(server, 2)
        client = server.client("lambda")
        create_function(client, "slow", SLOW, Timeout=30)
        client.put_function_concurrency(FunctionName="slow", ReservedConcurrentExecutions=2)

        def attempts(count: int, name: str) -> list[str]:
            """`count` calls at once (each on a connection of its own), each sleeping 5 s."""
            clients = [no_retry_client(server) for _ in range(count)]
            start = threading.Barrier(count)

            def attempt(client: Any) -> str:
                start.wait()
                try:
                    response = client.invoke(FunctionName=name, Payload=b'{"sleep": 5}')
                    body = json.loads(response["Payload"].read())
                    return "ran" if body == "done" else f"failed {body}"[-400:]
                except ClientError as error:
                    return f"{error.response.get('Reason')}: {error.response['Error']['Message']}"

            with ThreadPoolExecutor(count) as pool:
                return list(pool.map(attempt, clients))

        outcomes = attempts(8, "slow")
        assert outcomes.count("ran") == 2, outcomes
        assert (
            sum(o.startswith("ReservedFunctionConcurrentInvocationLimitExceeded:") for o in outcomes) == 6
        ), outcomes

        # 700 MB for all workers together: two 300 MB environments fit, a third does not.
        create_function(client, "big", SLOW, MemorySize=300, Timeout=30)
        outcomes = attempts(4, "big")
        assert outcomes.count("ran") == 2, outcomes
        assert all("of 700 MB are in use" in outcome for outcome in outcomes if outcome != "ran"), outcomes


def test_async_events_accepted_by_any_worker_run_once(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", "--workers", "2") as server:
        wait_for_workers(server, 2)
        create_function(server.client("lambda"), "events", SLOW)
        for n in range(20):
            client = server.client("lambda")
            assert (
                client.invoke(
                    FunctionName="events", InvocationType="Event", Payload=json.dumps({"n": n}).encode()
                )["StatusCode"]
                == 202
            )
            client.close()
        logs = server.client("logs")
        deadline = time.monotonic() + 60
        while True:
            lines = [
                event["message"].strip()
                for event in logs.filter_log_events(logGroupName="/aws/lambda/events", filterPattern="RAN")[
                    "events"
                ]
            ]
            if len(lines) >= 20 and server.health()["asyncBacklog"] == 0:
                break
            assert time.monotonic() < deadline, lines
            time.sleep(0.2)
        assert sorted(lines) == sorted(f"RAN {n}" for n in range(20))


def test_a_killed_worker_is_replaced_and_what_it_counted_is_forgotten(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", "--workers", "2") as server:
        health = wait_for_workers(server, 2)
        worker_pid = next(pool["pid"] for pool in health["workerPools"] if pool["worker"] == 1)
        client = server.client("lambda")
        # Four long calls at once, on connections of their own, until some run on the worker. Each
        # try has a function of its own: a process with no environment of a function hands its
        # calls to one with an idle one, so after one try the primary would get them all.
        for attempt in range(10):
            name = f"reserved-{attempt}"
            create_function(client, name, SLOW, Timeout=60)
            client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=4)
            calls = ThreadPoolExecutor(4)
            outcomes = [calls.submit(_try, server, name, {"sleep": 8}) for _ in range(4)]
            on_worker = _busy_on(server, 1)
            if on_worker:
                break
            calls.shutdown(wait=True)
        assert on_worker, "no call ever ran on the worker"
        os.kill(worker_pid, signal.SIGKILL)
        results = [outcome.result(timeout=60) for outcome in outcomes]
        calls.shutdown(wait=True)
        # The calls in flight on the killed worker failed; those on the primary finished.
        assert results.count("done") < 4, results

        replaced = wait_for_workers(server, 2)
        assert next(pool["pid"] for pool in replaced["workerPools"] if pool["worker"] == 1) != worker_pid
        # The dead worker's slots of the reservation went with it: four at once run again.
        with ThreadPoolExecutor(4) as again:
            assert list(again.map(lambda _: _try(server, name, {"sleep": 1}), range(4))) == ["done"] * 4


def _try(server: RunningServer, name: str, payload: dict[str, Any]) -> str:
    try:
        return str(invoke_fresh(server, name, payload))
    except Exception as error:  # the connection reset, or a 5xx or a throttle
        return type(error).__name__


def _busy_on(server: RunningServer, worker: int, timeout: float = 4) -> bool:
    """Whether `worker`'s pool gets a busy environment within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pool in server.health()["workerPools"]:
            if pool["worker"] == worker and pool["busyEnvironments"]:
                return True
        time.sleep(0.05)
    return False


def test_what_workers_record_reaches_metrics_metric_filters_and_alarms(tmp_path: Path) -> None:
    """Metrics, metric filters and alarms are the primary's; invocations that ran on a worker count
    there as well, also under --fake-clock (the workers' clocks follow the primary's)."""
    with running_server(tmp_path / "data", "--workers", "2", "--fake-clock") as server:
        wait_for_workers(server, 2)
        lambda_client, logs, cloudwatch = (
            server.client("lambda"),
            server.client("logs"),
            server.client("cloudwatch"),
        )
        create_function(lambda_client, "counted", SLOW, Timeout=30)
        invoke_fresh(server, "counted", {"n": -1})  # the log group exists from the first line
        logs.put_metric_filter(
            logGroupName="/aws/lambda/counted",
            filterName="ran",
            filterPattern='"RAN"',
            metricTransformations=[{"metricName": "Ran", "metricNamespace": "Workers", "metricValue": "1"}],
        )
        # Calls at once, each on a connection of its own, until every process ran some (the kernel
        # picks a process per connection: six may all go to one, a few times in a hundred).
        bursts = 0
        while bursts == 0 or not all(pool["environments"] for pool in server.health()["workerPools"]):
            assert bursts < 5, server.health()["workerPools"]
            with ThreadPoolExecutor(6) as pool:
                outcomes = list(pool.map(lambda n: _try(server, "counted", {"n": n, "sleep": 2}), range(6)))
            assert outcomes == ["done"] * 6
            bursts += 1

        def total(namespace: str, metric: str, dimensions: list[dict[str, str]]) -> float:
            now = time.time() + 3600  # well past the fake clock, which starts at the real time
            points = cloudwatch.get_metric_statistics(
                Namespace=namespace,
                MetricName=metric,
                Dimensions=dimensions,
                StartTime=now - 3 * 3600,
                EndTime=now,
                Period=3600,
                Statistics=["Sum"],
            )["Datapoints"]
            return sum(point["Sum"] for point in points)

        function = [{"Name": "FunctionName", "Value": "counted"}]
        assert total("AWS/Lambda", "Invocations", function) == 1 + 6 * bursts
        deadline = time.monotonic() + 20  # filtered lines reach the primary with the log flushes
        while total("Workers", "Ran", []) < 6 * bursts:
            assert time.monotonic() < deadline, total("Workers", "Ran", [])
            time.sleep(0.2)
        assert total("Workers", "Ran", []) == 6 * bursts

        cloudwatch.put_metric_alarm(
            AlarmName="busy",
            Namespace="AWS/Lambda",
            MetricName="Invocations",
            Dimensions=function,
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        for n in range(2):
            invoke_fresh(server, "counted", {"n": 100 + n})
        request = urllib.request.Request(
            f"{server.endpoint}/_lamina/clock",
            data=json.dumps({"advanceSeconds": 61}).encode(),
            method="POST",
        )
        urllib.request.urlopen(request, timeout=30).close()
        assert cloudwatch.describe_alarms(AlarmNames=["busy"])["MetricAlarms"][0]["StateValue"] == "ALARM"


def test_workers_end_with_their_primary_even_when_it_is_killed(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", "--workers", "2") as server:
        health = wait_for_workers(server, 2)
        worker_pid = next(pool["pid"] for pool in health["workerPools"] if pool["worker"] == 1)
        create_function(server.client("lambda"), "left", SLOW, Timeout=60)
        with ThreadPoolExecutor(4) as pool:  # environments in both processes
            assert list(pool.map(lambda n: _try(server, "left", {"sleep": 1}), range(4))) == ["done"] * 4
        environments = _descendants(worker_pid)
        server.process.kill()
        server.process.wait(10)
        deadline = time.monotonic() + 30
        while _alive(worker_pid) or any(_alive(pid) for pid in environments):
            assert time.monotonic() < deadline, "a worker or its environments outlived the primary"
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_a_stopped_worker_is_replaced(tmp_path: Path) -> None:
    """SIGSTOP: the kernel still gives it connections, so the primary's heartbeat must notice."""
    with running_server(tmp_path / "data", "--workers", "2") as server:
        health = wait_for_workers(server, 2)
        stopped = next(pool["pid"] for pool in health["workerPools"] if pool["worker"] == 1)
        os.kill(stopped, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 30
            while True:
                pools = []
                with contextlib.suppress(OSError):  # a connection the stopped worker took
                    pools = server.health().get("workerPools", [])
                pids = {pool["pid"] for pool in pools if pool["worker"] == 1}
                if pids and stopped not in pids:
                    break
                assert time.monotonic() < deadline, pools
                time.sleep(0.2)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(stopped, signal.SIGCONT)


def test_a_server_started_without_workers_serves_from_one_process_per_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's default (test servers otherwise run one process): the cores it may use, at most 8."""
    monkeypatch.setenv("LAMINA_TEST_WORKERS", "default")
    cores = min(len(os.sched_getaffinity(0)), 8)
    with running_server(tmp_path / "data") as server:
        health = wait_for_workers(server, cores)
        assert health["workers"] == cores
        create_function(server.client("lambda"), "anywhere", STAGE)
        assert json.loads(server.client("lambda").invoke(FunctionName="anywhere")["Payload"].read()) == "none"


def test_what_workers_record_reaches_the_primarys_recordings(tmp_path: Path) -> None:
    import sqlite3

    with running_server(tmp_path / "data", "--workers", "2") as server:
        wait_for_workers(server, 2)
        create_function(
            server.client("lambda"),
            "recorded",
            SLOW,
            Environment={"Variables": {"LAMINA_RECORD_EVENTS": "on"}},
        )

        def invoke(n: int) -> str:
            client = server.client("lambda")
            try:
                answer = client.invoke(FunctionName="recorded", Payload=json.dumps({"n": n}).encode())
                return str(answer["ResponseMetadata"]["RequestId"])
            finally:
                client.close()

        with ThreadPoolExecutor(8) as pool:  # concurrent: both processes start environments
            request_ids = set(pool.map(invoke, range(24)))
        # Reading a metric makes every worker send what it holds (metrics, billing, recordings).
        server.client("cloudwatch").list_metrics(Namespace="AWS/Lambda")
        deadline = time.monotonic() + 30
        while True:
            with contextlib.closing(sqlite3.connect(tmp_path / "data" / "recordings.db")) as database:
                stored = {row[0] for row in database.execute("SELECT request_id FROM recordings")}
            if stored >= request_ids:
                break
            assert time.monotonic() < deadline, (len(stored), len(request_ids))
            time.sleep(0.5)
            server.client("cloudwatch").list_metrics(Namespace="AWS/Lambda")
        assert stored == request_ids
