"""`lamina server --metadata postgresql://...`: functions, IAM, async queue, metrics and alarms in a
real PostgreSQL database instead of the data directory's SQLite files, driven through boto3 and
kept across a restart."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.test_async_invocation import FAST_RETRIES, recorded, recorder, wait_for
from tests.support.cli import run_lamina
from tests.support.lambda_calls import create_function, wait_active, wait_updated
from tests.support.packaging import make_zip
from tests.support.postgres import PostgresServer
from tests.support.server import EXECUTION_ROLE, RunningServer, running_server

HANDLER = "def handler(event, context):\n    return {'echo': event}\n"
STAGE = "import os\ndef handler(event, context):\n    return os.environ.get('STAGE')\n"


def test_a_server_on_postgresql_keeps_its_state_there(postgres: PostgresServer, tmp_path: Path) -> None:
    url = postgres.new_database()
    data = tmp_path / "data"
    with running_server(data, "--metadata", url) as server:
        assert server.health()["stores"] == "postgresql"
        lambda_client, cloudwatch = server.client("lambda"), server.client("cloudwatch")
        lambda_client.create_function(
            FunctionName="pg",
            Runtime="python3.11",
            Role=EXECUTION_ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": HANDLER})},
            Tags={"team": "db"},
        )
        wait_active(lambda_client, "pg")
        lambda_client.publish_version(FunctionName="pg")
        lambda_client.create_alias(FunctionName="pg", Name="live", FunctionVersion="1")
        response = lambda_client.invoke(FunctionName="pg:live", Payload=b'{"n": 1}')
        assert json.loads(response["Payload"].read()) == {"echo": {"n": 1}}
        cloudwatch.put_metric_alarm(
            AlarmName="errors",
            MetricName="Errors",
            Namespace="AWS/Lambda",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    assert not (data / "lamina.db").exists() and not (data / "identity.db").exists()

    with running_server(data, "--metadata", url) as restarted:
        lambda_client = restarted.client("lambda")
        configuration = lambda_client.get_function(FunctionName="pg")
        assert configuration["Tags"] == {"team": "db"}
        assert lambda_client.get_alias(FunctionName="pg", Name="live")["FunctionVersion"] == "1"
        assert [
            alarm["AlarmName"] for alarm in restarted.client("cloudwatch").describe_alarms()["MetricAlarms"]
        ] == ["errors"]
        response = lambda_client.invoke(FunctionName="pg", Payload=b'{"n": 2}')
        assert json.loads(response["Payload"].read()) == {"echo": {"n": 2}}
        # IAM lives there too: the execution role made at the first start is still known.
        assert restarted.client("iam").get_role(RoleName="lambda-role")["Role"]["RoleName"] == "lambda-role"


def test_an_unreachable_database_stops_the_server_with_one_line(tmp_path: Path) -> None:
    result = run_lamina(
        "server",
        "--data-dir",
        str(tmp_path / "data"),
        "--port",
        str(_free_port()),
        "--metadata",
        f"postgresql://nobody@/nowhere?host={tmp_path}&port=1&connect_timeout=1",
        timeout=60,
    )
    assert result.returncode != 0
    assert "cannot connect to the --metadata database" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite:///tmp/x"])
def test_only_postgresql_urls_are_taken(url: str, tmp_path: Path) -> None:
    result = run_lamina("server", "--data-dir", str(tmp_path / "data"), "--metadata", url)
    assert result.returncode == 2 and "--metadata takes a postgresql:// URL" in result.stderr


@contextlib.contextmanager
def two_servers(url: str, tmp_path: Path, *args: str) -> Iterator[tuple[RunningServer, RunningServer]]:
    """Two servers, each with a data directory of its own, on the database at `url`."""
    with (
        running_server(tmp_path / "one", "--metadata", url, *args) as one,
        running_server(tmp_path / "two", "--metadata", url, *args) as two,
    ):
        yield one, two


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _eventually(check: Any, timeout: float = 10) -> Any:
    """What `check()` returns once it stops raising (another server hears of a change in ms)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_servers_sharing_a_database_see_each_others_changes(postgres: PostgresServer, tmp_path: Path) -> None:
    url = postgres.new_database()
    with two_servers(url, tmp_path) as (one, two):
        first, second = one.client("lambda"), two.client("lambda")
        first.create_function(
            FunctionName="shared",
            Runtime="python3.11",
            Role=EXECUTION_ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": STAGE})},
            Environment={"Variables": {"STAGE": "one"}},
        )
        wait_active(first, "shared")

        def stage_on_two() -> str:
            return json.loads(second.invoke(FunctionName="shared", Payload=b"{}")["Payload"].read())

        assert _eventually(stage_on_two) == "one"
        first.update_function_configuration(
            FunctionName="shared", Environment={"Variables": {"STAGE": "two"}}
        )
        wait_updated(first, "shared")
        _eventually(lambda: _expect(stage_on_two(), "two"))
        # IAM too: a user made on one server signs requests the other one accepts.
        one.client("iam").create_user(UserName="shared-user")
        _eventually(lambda: two.client("iam").get_user(UserName="shared-user"))
        keys = one.client("iam").create_access_key(UserName="shared-user")["AccessKey"]
        one.client("iam").put_user_policy(
            UserName="shared-user",
            PolicyName="read",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}],
                }
            ),
        )
        as_user = boto3.client(
            "lambda",
            endpoint_url=two.endpoint,
            region_name="us-east-1",
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
        )
        _eventually(lambda: as_user.get_function(FunctionName="shared"))
        # And alarms.
        one.client("cloudwatch").put_metric_alarm(
            AlarmName="shared-errors",
            MetricName="Errors",
            Namespace="AWS/Lambda",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        _eventually(
            lambda: _expect(
                [alarm["AlarmName"] for alarm in two.client("cloudwatch").describe_alarms()["MetricAlarms"]],
                ["shared-errors"],
            )
        )

        first.delete_function(FunctionName="shared")

        def gone_on_two() -> None:
            try:
                second.get_function(FunctionName="shared")
            except second.exceptions.ResourceNotFoundException:
                return
            raise AssertionError("still there")  # (pytest.raises' failure is not an Exception)

        _eventually(gone_on_two)


def _expect(value: Any, expected: Any) -> None:
    assert value == expected, value


def test_events_a_killed_server_accepted_are_delivered_by_another(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """The worst moment: events accepted, some running, the server SIGKILLed. The server beside it
    on the database delivers them (its beats lapse within seconds), with the code it never stored."""
    url = postgres.new_database()
    with two_servers(url, tmp_path, *FAST_RETRIES) as (one, two):
        name, out = recorder(one.client("lambda"), tmp_path, sleep=0.5)
        accepted = []
        for n in range(12):
            response = one.client("lambda").invoke(
                FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": n})
            )
            assert response["StatusCode"] == 202
            accepted.append(response["ResponseMetadata"]["RequestId"])
        one.stop(signal.SIGKILL)
        ran_before = {entry["event"]["n"] for entry in recorded(out)}
        assert len(ran_before) < 12, "every event ran before the kill: the test proves nothing"
        wait_for(lambda: {entry["event"]["n"] for entry in recorded(out)} == set(range(12)), timeout=60)
        assert {entry["requestId"] for entry in recorded(out)} == set(accepted)
        assert two.health()["status"] == "ok"


SLEEPER = (
    "import time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 'done'\n"
)


def test_reserved_concurrency_holds_across_servers_sharing_a_database(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.new_database()
    with two_servers(url, tmp_path) as (one, two):
        first, second = one.client("lambda"), two.client("lambda")
        create_function(first, "limited", {"app.py": SLEEPER}, Timeout=30)
        first.put_function_concurrency(FunctionName="limited", ReservedConcurrentExecutions=2)
        _eventually(
            lambda: _expect(
                second.get_function_concurrency(FunctionName="limited")["ReservedConcurrentExecutions"], 2
            )
        )
        with ThreadPoolExecutor(2) as pool:
            held = [
                pool.submit(first.invoke, FunctionName="limited", Payload=json.dumps({"sleep": 4}))
                for _ in range(2)
            ]

            # Both units taken on one: the other refuses a third call as AWS does.
            def third_is_throttled() -> None:
                try:
                    second.invoke(FunctionName="limited", Payload=b"{}")
                except second.exceptions.TooManyRequestsException as refused:
                    assert refused.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
                else:
                    raise AssertionError("a third call ran")

            _eventually(third_is_throttled, timeout=3.5)
            assert [json.loads(call.result()["Payload"].read()) for call in held] == ["done", "done"]
        # Freed on one: the other runs it again.
        _eventually(
            lambda: _expect(
                json.loads(second.invoke(FunctionName="limited", Payload=b"{}")["Payload"].read()), "done"
            )
        )


def test_logs_written_through_one_server_are_read_through_any(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.new_database()
    with two_servers(url, tmp_path) as (one, two):
        create_function(
            one.client("lambda"), "talker", {"app.py": "def handler(e, c):\n    print('said', e['n'])\n"}
        )
        _eventually(lambda: two.client("lambda").get_function(FunctionName="talker"))
        for server, n in ((one, 1), (two, 2)):
            server.client("lambda").invoke(FunctionName="talker", Payload=json.dumps({"n": n}))
        for server in (one, two):  # the invocation's lines are stored before its response
            said = server.client("logs").filter_log_events(
                logGroupName="/aws/lambda/talker", filterPattern="said"
            )
            assert sorted(event["message"].strip() for event in said["events"]) == ["said 1", "said 2"]
        streams = two.client("logs").describe_log_streams(logGroupName="/aws/lambda/talker")["logStreams"]
        assert len(streams) == 2
        page = one.client("logs").get_log_events(
            logGroupName="/aws/lambda/talker", logStreamName=streams[0]["logStreamName"], startFromHead=True
        )
        assert any(event["message"].startswith("REPORT RequestId:") for event in page["events"])
        # A group made through one is there for the other, retention and all.
        one.client("logs").create_log_group(logGroupName="/custom")
        one.client("logs").put_retention_policy(logGroupName="/custom", retentionInDays=7)
        _eventually(
            lambda: _expect(
                [
                    (group["logGroupName"], group.get("retentionInDays"))
                    for group in two.client("logs").describe_log_groups(logGroupNamePrefix="/custom")[
                        "logGroups"
                    ]
                ],
                [("/custom", 7)],
            )
        )
        printed = run_lamina("logs", "talker", "--data-dir", str(tmp_path / "two"), "--metadata", url)
        assert printed.returncode == 0, printed.stderr
        assert "said 1" in printed.stdout and "said 2" in printed.stdout

        # And `lamina cost` the billed usage of both servers' invocations (each meters its own).
        def billed_requests() -> int:
            shown = run_lamina("cost", "--json", "--data-dir", str(tmp_path / "one"))
            assert shown.returncode == 0, shown.stderr
            return sum(
                row["requests"]
                for row in json.loads(shown.stdout)["functions"]
                if row["function"] == "talker"
            )

        _eventually(lambda: _expect(billed_requests(), 2), timeout=20)


def test_racing_servers_get_awss_conflicts_never_a_lost_write_or_a_500(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """Each server checks its copy first; the database settles a race between them (found by an
    attack: both creates answered 201 and one package was lost; a publish race answered 500)."""
    url = postgres.new_database()
    with two_servers(url, tmp_path) as (one, two):
        clients = [one.client("lambda"), two.client("lambda")]

        def race(calls: list[Any]) -> list[Any]:
            barrier = threading.Barrier(len(calls))

            def run(call: Any) -> Any:
                barrier.wait()
                try:
                    return call()
                except ClientError as error:
                    return error.response["Error"]["Code"]

            with ThreadPoolExecutor(len(calls)) as pool:
                return list(pool.map(run, calls))

        for attempt in range(4):
            name = f"raced-{attempt}"
            outcomes = race(
                [
                    lambda client=client, stage=stage, name=name: client.create_function(
                        FunctionName=name,
                        Runtime="python3.11",
                        Role=EXECUTION_ROLE,
                        Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": STAGE})},
                        Environment={"Variables": {"STAGE": stage}},
                    )["Environment"]["Variables"]["STAGE"]
                    for client, stage in zip(clients, ["one", "two"], strict=True)
                ]
            )
            winners = [outcome for outcome in outcomes if outcome in ("one", "two")]
            assert len(winners) == 1 and "ResourceConflictException" in outcomes, outcomes
            # The winner's server has the function at once; the other sees it at its next re-read.
            winner = ["one", "two"].index(winners[0])
            wait_active(clients[winner], name)
            stored = clients[winner].get_function_configuration(FunctionName=name)["Environment"][
                "Variables"
            ]["STAGE"]
            assert stored == winners[0]
            _eventually(lambda name=name, other=clients[1 - winner]: other.get_function(FunctionName=name))
            published = race(
                [
                    lambda client=client, name=name: client.publish_version(FunctionName=name)["Version"]
                    for client in clients
                ]
            )
            assert set(published) <= {"1", "ResourceConflictException"} and "1" in published, published
            deleted = race(
                [
                    lambda client=client, name=name: client.delete_function(FunctionName=name)[
                        "ResponseMetadata"
                    ]["HTTPStatusCode"]
                    for client in clients
                ]
            )
            assert sorted(map(str, deleted)) == ["204", "ResourceNotFoundException"], deleted
