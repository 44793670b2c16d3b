"""EventBridge Scheduler against a real server started with `--fake-clock`, through boto3: schedules
and groups answer as Scheduler does; rate, cron (in a time zone, across a daylight saving change)
and at() schedules run their targets as the execution role, with the context attributes; StartDate,
EndDate and ActionAfterCompletion hold; a role that does not trust Scheduler runs nothing."""

from __future__ import annotations

import calendar
import contextlib
import datetime
import itertools
import json
import time
import uuid
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.cli import run_lamina
from tests.support.fake_clock import advance, server_now
from tests.support.lambda_calls import create_function
from tests.support.queues import queue_allowing
from tests.support.server import RunningServer, running_server

ACCOUNT = "000000000000"
REGION = "us-east-1"
OFF = {"Mode": "OFF"}
SCHEDULER_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "scheduler.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
RECORDER = {
    "app.py": "import json\n\ndef handler(event, context):\n    print('SCHEDULED ' + json.dumps(event))\n"
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("scheduler") / "data", "--fake-clock") as running:
        yield running


@pytest.fixture(scope="module")
def scheduler(server: RunningServer) -> Any:
    return server.client("scheduler")


@pytest.fixture(scope="module")
def sqs(server: RunningServer) -> Any:
    return server.client("sqs")


@pytest.fixture(scope="module")
def role(server: RunningServer) -> str:
    """An execution role Scheduler may assume, allowed to send to queues and invoke functions."""
    iam = server.client("iam")
    arn = iam.create_role(RoleName="scheduler-tests", AssumeRolePolicyDocument=SCHEDULER_TRUST)["Role"]["Arn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["sqs:SendMessage", "lambda:InvokeFunction"], "Resource": "*"}
        ],
    }
    iam.put_role_policy(RoleName="scheduler-tests", PolicyName="targets", PolicyDocument=json.dumps(policy))
    return str(arn)


@pytest.fixture
def schedules(scheduler: Any) -> Iterator[list[str]]:
    """Names of schedules (default group) the test made: deleted after it, so that a later jump of
    the shared clock does not fire them."""
    made: list[str] = []
    yield made
    for name in made:
        with contextlib.suppress(scheduler.exceptions.ResourceNotFoundException):
            scheduler.delete_schedule(Name=name)


def queue(sqs: Any) -> tuple[str, str]:
    return queue_allowing(sqs)  # the execution role sends: no policy needed in its own account


def received(sqs: Any, url: str) -> list[Any]:
    """Every message now on the queue (JSON-decoded), deleted."""
    bodies: list[Any] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def error(call: Any, **params: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_schedules_and_groups_answer_as_scheduler_does(
    scheduler: Any, role: str, schedules: list[str]
) -> None:
    target = {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:nowhere", "RoleArn": role}
    name = f"crud-{uuid.uuid4().hex[:8]}"
    schedules.append(name)
    arn = scheduler.create_schedule(
        Name=name,
        ScheduleExpression="cron(0 9 ? * MON-FRI *)",
        ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target=target,
        Description="weekday mornings",
    )["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{name}"
    got = scheduler.get_schedule(Name=name)
    assert {
        key: got[key]
        for key in (
            "Arn",
            "Name",
            "GroupName",
            "ScheduleExpression",
            "ScheduleExpressionTimezone",
            "State",
            "Target",
            "FlexibleTimeWindow",
            "ActionAfterCompletion",
            "Description",
        )
    } == {
        "Arn": arn,
        "Name": name,
        "GroupName": "default",
        "ScheduleExpression": "cron(0 9 ? * MON-FRI *)",
        "ScheduleExpressionTimezone": "Europe/Paris",
        "State": "ENABLED",
        "Target": target,
        "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        "ActionAfterCompletion": "NONE",
        "Description": "weekday mornings",
    }
    scheduler.update_schedule(
        Name=name, ScheduleExpression="rate(1 hour)", FlexibleTimeWindow=OFF, Target=target, State="DISABLED"
    )
    updated = scheduler.get_schedule(Name=name)
    assert (updated["ScheduleExpression"], updated["State"], updated["ScheduleExpressionTimezone"]) == (
        "rate(1 hour)",
        "DISABLED",
        "UTC",
    )
    assert "Description" not in updated  # UpdateSchedule replaces every setting
    assert name in [entry["Name"] for entry in scheduler.list_schedules(State="DISABLED")["Schedules"]]

    assert error(
        scheduler.create_schedule,
        Name=name,
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow=OFF,
        Target=target,
    ) == (
        "ConflictException",
        f"Schedule {name} already exists.",
        409,
    )
    assert error(scheduler.get_schedule, Name="absent") == (
        "ResourceNotFoundException",
        "Schedule absent does not exist.",
        404,
    )
    for expression in ("rate(1 hours)", "cron(0 9 * * * *)", "at(2026-02-30T10:00:00)", "every day"):
        code, message, status = error(
            scheduler.create_schedule,
            Name="bad",
            ScheduleExpression=expression,
            FlexibleTimeWindow=OFF,
            Target=target,
        )
        assert (code, status) == ("ValidationException", 400) and expression in message
    code, _, _ = error(
        scheduler.create_schedule,
        Name="bad",
        ScheduleExpression="rate(1 hour)",
        ScheduleExpressionTimezone="Mars/Olympus",
        FlexibleTimeWindow=OFF,
        Target=target,
    )
    assert code == "ValidationException"
    code, _, _ = error(
        scheduler.create_schedule,
        Name="bad",
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow={"Mode": "FLEXIBLE"},
        Target=target,
    )
    assert code == "ValidationException"
    start = datetime.datetime(2030, 1, 2, tzinfo=datetime.UTC)
    code, _, _ = error(
        scheduler.create_schedule,
        Name="bad",
        ScheduleExpression="rate(1 hour)",
        StartDate=start,
        EndDate=start - datetime.timedelta(days=1),
        FlexibleTimeWindow=OFF,
        Target=target,
    )
    assert code == "ValidationException"

    group = f"g-{uuid.uuid4().hex[:8]}"
    group_arn = scheduler.create_schedule_group(Name=group, Tags=[{"Key": "team", "Value": "ops"}])[
        "ScheduleGroupArn"
    ]
    assert group_arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{group}"
    assert scheduler.get_schedule_group(Name=group)["State"] == "ACTIVE"
    assert scheduler.list_tags_for_resource(ResourceArn=group_arn)["Tags"] == [
        {"Key": "team", "Value": "ops"}
    ]
    assert error(scheduler.create_schedule_group, Name=group)[:2] == (
        "ConflictException",
        f"Schedule group {group} already exists.",
    )
    assert error(scheduler.create_schedule_group, Name="default")[:2] == (
        "ValidationException",
        "This operation cannot be performed on schedule group default.",
    )
    scheduler.create_schedule(
        Name="in-group",
        GroupName=group,
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow=OFF,
        Target=target,
    )
    assert [entry["Name"] for entry in scheduler.list_schedules(GroupName=group)["Schedules"]] == ["in-group"]
    assert {entry["Name"] for entry in scheduler.list_schedule_groups()["ScheduleGroups"]} >= {
        "default",
        group,
    }
    scheduler.delete_schedule_group(Name=group)  # its schedules go with it
    assert error(scheduler.get_schedule, Name="in-group", GroupName=group)[:2] == (
        "ResourceNotFoundException",
        f"Schedule group {group} does not exist.",
    )
    scheduler.delete_schedule(Name=name)
    assert error(scheduler.delete_schedule, Name=name)[0] == "ResourceNotFoundException"


def test_a_rate_schedule_runs_at_once_and_every_period_with_context_attributes(
    server: RunningServer, scheduler: Any, sqs: Any, role: str, schedules: list[str]
) -> None:
    url, arn = queue(sqs)
    name = f"rate-{uuid.uuid4().hex[:8]}"
    schedules.append(name)
    created = server_now(server)
    schedule_arn = scheduler.create_schedule(
        Name=name,
        ScheduleExpression="rate(10 minutes)",
        FlexibleTimeWindow=OFF,
        Target={
            "Arn": arn,
            "RoleArn": role,
            "Input": '{"at": "<aws.scheduler.scheduled-time>", "arn": "<aws.scheduler.schedule-arn>", '
            '"id": "<aws.scheduler.execution-id>", "attempt": "<aws.scheduler.attempt-number>"}',
        },
    )["ScheduleArn"]
    advance(server, 1500)  # at once, then +10 and +20 minutes
    bodies = sorted(received(sqs, url), key=lambda body: body["at"])
    assert [body["at"] for body in bodies] == [iso(created + offset) for offset in (0, 600, 1200)]
    assert {body["arn"] for body in bodies} == {schedule_arn}
    assert {body["attempt"] for body in bodies} == {"1"}
    assert len({body["id"] for body in bodies}) == 3


def test_a_cron_schedule_follows_its_time_zone_across_a_daylight_saving_change(
    server: RunningServer, scheduler: Any, sqs: Any, role: str, schedules: list[str]
) -> None:
    """New York moves its clocks forward at 02:00 on 2027-03-14: 02:30 that day does not exist."""
    url, arn = queue(sqs)
    name = f"dst-{uuid.uuid4().hex[:8]}"
    schedules.append(name)
    new_york = datetime.timezone(datetime.timedelta(hours=-5))
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression="cron(30 2 * * ? *)",
        ScheduleExpressionTimezone="America/New_York",
        StartDate=datetime.datetime(2027, 3, 12, tzinfo=new_york),
        EndDate=datetime.datetime(2027, 3, 16, tzinfo=new_york),
        FlexibleTimeWindow=OFF,
        Target={"Arn": arn, "RoleArn": role, "Input": '{"at": "<aws.scheduler.scheduled-time>"}'},
    )
    target = datetime.datetime(2027, 3, 17, tzinfo=datetime.UTC).timestamp()
    advance(server, target - server_now(server))
    assert sorted(body["at"] for body in received(sqs, url)) == [
        "2027-03-12T07:30:00Z",
        "2027-03-13T07:30:00Z",
        "2027-03-15T06:30:00Z",  # EDT from the 14th; nothing on the 14th itself
    ]


def test_a_one_time_schedule_invokes_its_function_and_deletes_itself(
    server: RunningServer, scheduler: Any, role: str, schedules: list[str]
) -> None:
    lambda_client, logs = server.client("lambda"), server.client("logs")
    function = f"once-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, function, RECORDER)
    function_arn = lambda_client.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    name = f"once-{uuid.uuid4().hex[:8]}"
    schedules.append(name)
    moment = server_now(server) + 3600
    local = datetime.datetime.fromtimestamp(moment, datetime.timezone(datetime.timedelta(hours=9)))
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression=f"at({local.strftime('%Y-%m-%dT%H:%M:%S')})",
        ScheduleExpressionTimezone="Asia/Tokyo",
        ActionAfterCompletion="DELETE",
        FlexibleTimeWindow=OFF,
        Target={"Arn": function_arn, "RoleArn": role, "Input": json.dumps({"job": "report"})},
    )
    advance(server, 1800)
    assert scheduler.get_schedule(Name=name)["State"] == "ENABLED"
    advance(server, 1900)

    def events() -> list[Any]:
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            found = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern="SCHEDULED")[
                "events"
            ]
            return [json.loads(event["message"].split("SCHEDULED ", 1)[1]) for event in found]
        return []

    deadline = time.monotonic() + 30
    while not events() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert events() == [{"job": "report"}]
    with pytest.raises(ClientError):
        scheduler.get_schedule(Name=name)


def test_a_role_that_does_not_trust_scheduler_runs_nothing(
    server: RunningServer, scheduler: Any, sqs: Any, schedules: list[str]
) -> None:
    iam = server.client("iam")
    untrusting = iam.create_role(
        RoleName=f"not-scheduler-{uuid.uuid4().hex[:6]}",
        AssumeRolePolicyDocument=SCHEDULER_TRUST.replace("scheduler.amazonaws.com", "lambda.amazonaws.com"),
    )["Role"]["Arn"]
    url, arn = queue(sqs)
    name = f"untrusted-{uuid.uuid4().hex[:8]}"
    schedules.append(name)
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression="rate(5 minutes)",
        FlexibleTimeWindow=OFF,
        Target={"Arn": arn, "RoleArn": untrusting},
    )
    advance(server, 600)
    assert received(sqs, url) == []


def test_fire_times_survive_a_kill(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("scheduler-kill") / "data"
    with running_server(data, "--fake-clock") as first:
        iam, sqs, scheduler = first.client("iam"), first.client("sqs"), first.client("scheduler")
        role = iam.create_role(RoleName="kill", AssumeRolePolicyDocument=SCHEDULER_TRUST)["Role"]["Arn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}],
        }
        iam.put_role_policy(RoleName="kill", PolicyName="send", PolicyDocument=json.dumps(policy))
        url, arn = queue(sqs)
        start = server_now(first)
        scheduler.create_schedule(
            Name="minutely",
            ScheduleExpression="rate(1 minute)",
            FlexibleTimeWindow=OFF,
            Target={"Arn": arn, "RoleArn": role, "Input": '"<aws.scheduler.scheduled-time>"'},
        )
        advance(first, 130)  # at once, +60, +120
        before = received(sqs, url)
        first.process.kill()
        first.process.wait()
    with running_server(data, "--fake-clock") as second:
        sqs = second.client("sqs")
        advance(second, start + 250 - server_now(second))  # +180 and +240
        after = received(sqs, url)
    assert sorted(before + after) == [iso(start + offset) for offset in (0, 60, 120, 180, 240)]


def test_lamina_schedules_lists_rules_and_schedules_with_their_next_times(
    server: RunningServer, scheduler: Any, role: str, schedules: list[str]
) -> None:
    events = server.client("events")
    rule = f"every-five-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=rule, ScheduleExpression="rate(5 minutes)")
    name = f"paris-{uuid.uuid4().hex[:8]}"
    schedules.append(name)
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression="cron(0 9 ? * MON-FRI *)",
        ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow=OFF,
        Target={"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:nowhere", "RoleArn": role},
    )
    try:
        listed = run_lamina("schedules", "--data-dir", str(server.data_dir), "--json", "-n", "3")
        assert listed.returncode == 0, listed.stderr
        entries = {entry["name"]: entry for entry in json.loads(listed.stdout)}
        assert entries[rule]["kind"] == "rule" and entries[rule]["expression"] == "rate(5 minutes)"
        rule_times = [calendar.timegm(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ")) for t in entries[rule]["next"]]
        assert [b - a for a, b in itertools.pairwise(rule_times)] == [300, 300]
        paris = entries[f"default/{name}"]
        assert paris["scheduleTimeZone"] == "Europe/Paris" and len(paris["next"]) == 3
        for moment in paris["next"]:
            local = datetime.datetime.strptime(moment, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
            local = local.astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
            assert (local.hour, local.minute) == (9, 0) and local.weekday() < 5
        table = run_lamina("schedules", "--data-dir", str(server.data_dir), "--timezone", "Asia/Tokyo")
        assert (
            table.returncode == 0 and rule in table.stdout and "next fire times (Asia/Tokyo)" in table.stdout
        )
        checked = run_lamina(
            "schedules", "--expression", "cron(0 10 L * ? *)", "--timezone", "UTC", "--json", "-n", "2"
        )
        assert json.loads(checked.stdout)["next"][0].endswith("T10:00:00Z")
        refused = run_lamina("schedules", "--expression", "cron(0 10 * * * *)")
        assert refused.returncode != 0 and "not a schedule expression" in refused.stderr
    finally:
        events.delete_rule(Name=rule)
