"""EventBridge against a real server started with `--fake-clock`, through boto3: rules and buses
answer as EventBridge does; PutEvents reaches the targets of matching rules (queues and functions,
with Input, InputPath and InputTransformer); schedule rules fire at their times as the clock moves,
with the Scheduled Event; and fire times survive a SIGKILL of the server, none sent twice."""

from __future__ import annotations

import calendar
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.cli import run_aws
from tests.support.fake_clock import advance, server_now
from tests.support.lambda_calls import create_function
from tests.support.queues import queue_allowing, take_messages
from tests.support.server import RunningServer, running_server

ACCOUNT = "000000000000"
REGION = "us-east-1"
RECORDER = {
    "app.py": "import json\n\ndef handler(event, context):\n    print('EB-EVENT ' + json.dumps(event))\n"
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("eventbridge") / "data", "--fake-clock") as running:
        yield running


@pytest.fixture(scope="module")
def events(server: RunningServer) -> Any:
    return server.client("events")


@pytest.fixture(scope="module")
def sqs(server: RunningServer) -> Any:
    return server.client("sqs")


def error(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def queue_for_events(sqs: Any) -> tuple[str, str]:
    """A queue whose policy lets EventBridge send to it: (URL, ARN)."""
    return queue_allowing(sqs, "events.amazonaws.com")


def drain(sqs: Any, url: str, expected: int, timeout: float = 10) -> list[Any]:
    """The bodies of `expected` messages (JSON-decoded), and of any extra that came."""
    return [json.loads(message["Body"]) for message in take_messages(sqs, url, expected, timeout)]


def test_rules_and_buses_answer_as_eventbridge_does(events: Any) -> None:
    name = f"rule-{uuid.uuid4().hex[:8]}"
    pattern = json.dumps({"source": ["shop"]})
    arn = events.put_rule(Name=name, EventPattern=pattern, Description="orders")["RuleArn"]
    assert arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"
    described = events.describe_rule(Name=name)
    assert {
        key: described[key] for key in ("Name", "Arn", "EventPattern", "State", "Description", "EventBusName")
    } == {
        "Name": name,
        "Arn": arn,
        "EventPattern": pattern,
        "State": "ENABLED",
        "Description": "orders",
        "EventBusName": "default",
    }
    events.disable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "DISABLED"
    events.enable_rule(Name=name)
    assert name in [rule["Name"] for rule in events.list_rules(NamePrefix="rule-")["Rules"]]

    assert error(events.describe_rule, Name="no-such-rule") == (
        "ResourceNotFoundException",
        "Rule no-such-rule does not exist on EventBus default.",
    )
    for invalid in (
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "cron(0 10 * * * *)",
        "cron(0 10 * *)",
    ):
        assert error(events.put_rule, Name=name, ScheduleExpression=invalid) == (
            "ValidationException",
            "Parameter ScheduleExpression is not valid.",
        )
    code, message = error(events.put_rule, Name=name, EventPattern='{"source": "shop"}')
    assert code == "InvalidEventPatternException" and message.startswith(
        "Event pattern is not valid. Reason: "
    )

    events.put_targets(Rule=name, Targets=[{"Id": "one", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:nowhere"}])
    assert error(events.delete_rule, Name=name) == (
        "ValidationException",
        "Rule can't be deleted since it has targets.",
    )
    assert events.list_rule_names_by_target(TargetArn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:nowhere")[
        "RuleNames"
    ] == [name]
    removed = events.remove_targets(Rule=name, Ids=["one", "absent"])
    assert removed["FailedEntryCount"] == 1 and removed["FailedEntries"][0]["TargetId"] == "absent"
    events.delete_rule(Name=name)
    events.delete_rule(Name=name)  # idempotent, as EventBridge's is
    assert error(events.describe_rule, Name=name)[0] == "ResourceNotFoundException"

    events.put_rule(Name=name, EventPattern=pattern, Tags=[{"Key": "team", "Value": "shop"}])
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "tier", "Value": "1"}])
    events.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "tier", "Value": "1"}]
    events.delete_rule(Name=name)
    assert error(events.list_tags_for_resource, ResourceARN=arn) == (
        "ResourceNotFoundException",
        f"Resource {arn} not found.",
    )

    bus = f"bus-{uuid.uuid4().hex[:8]}"
    assert (
        events.create_event_bus(Name=bus)["EventBusArn"]
        == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}"
    )
    assert error(events.create_event_bus, Name=bus) == (
        "ResourceAlreadyExistsException",
        f"Event bus {bus} already exists.",
    )
    assert error(events.put_rule, Name="on-bus", EventBusName=bus, ScheduleExpression="rate(5 minutes)") == (
        "ValidationException",
        "ScheduleExpression is supported only on the default event bus.",
    )
    rule_on_bus = events.put_rule(Name="on-bus", EventBusName=bus, EventPattern=pattern)["RuleArn"]
    assert rule_on_bus == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{bus}/on-bus"
    assert {entry["Name"] for entry in events.list_event_buses()["EventBuses"]} >= {"default", bus}
    assert error(events.delete_event_bus, Name="default") == (
        "ValidationException",
        "Cannot delete event bus default.",
    )
    events.delete_event_bus(Name=bus)
    assert error(events.describe_event_bus, Name=bus) == (
        "ResourceNotFoundException",
        f"Event bus {bus} does not exist.",
    )


def test_put_events_reach_the_targets_of_matching_rules(events: Any, sqs: Any) -> None:
    whole_url, whole_arn = queue_for_events(sqs)
    shaped_url, shaped_arn = queue_for_events(sqs)
    name = f"big-orders-{uuid.uuid4().hex[:8]}"
    pattern = {"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}}
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    put = events.put_targets(
        Rule=name,
        Targets=[
            {"Id": "whole", "Arn": whole_arn},
            {
                "Id": "shaped",
                "Arn": shaped_arn,
                "InputTransformer": {
                    "InputPathsMap": {
                        "order": "$.detail.id",
                        "total": "$.detail.total",
                        "missing": "$.detail.nope",
                    },
                    "InputTemplate": '{"text": "order <order> of <total>", "total": <total>, "none": <missing>, "rule": <aws.events.rule-name>}',
                },
            },
        ],
    )
    assert put == {**put, "FailedEntryCount": 0, "FailedEntries": []}
    answer = events.put_events(
        Entries=[
            {
                "Source": "shop",
                "DetailType": "order",
                "Detail": json.dumps({"id": "o-1", "total": 250}),
                "Resources": ["r"],
            },
            {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"id": "o-2", "total": 20})},
            {"Source": "other", "DetailType": "order", "Detail": json.dumps({"id": "o-3", "total": 999})},
            {"Source": "shop", "DetailType": "order"},
            {"Source": "shop", "DetailType": "order", "Detail": "[1, 2]"},
        ]
    )
    assert answer["FailedEntryCount"] == 2
    assert answer["Entries"][3] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter Detail is not valid. Reason: Detail is a required argument.",
    }
    assert answer["Entries"][4] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    first_id = answer["Entries"][0]["EventId"]

    [whole] = drain(sqs, whole_url, 1)
    assert whole["id"] == first_id
    assert {
        key: whole[key]
        for key in ("version", "detail-type", "source", "account", "region", "resources", "detail")
    } == {
        "version": "0",
        "detail-type": "order",
        "source": "shop",
        "account": ACCOUNT,
        "region": REGION,
        "resources": ["r"],
        "detail": {"id": "o-1", "total": 250},
    }
    assert whole["time"].endswith("Z") and len(whole["time"]) == 20
    assert drain(sqs, shaped_url, 1) == [
        {"text": "order o-1 of 250", "total": 250, "none": None, "rule": name}
    ]

    # A disabled rule sends nothing.
    events.disable_rule(Name=name)
    events.put_events(
        Entries=[{"Source": "shop", "DetailType": "order", "Detail": json.dumps({"total": 500})}]
    )
    assert drain(sqs, whole_url, 0) == []


def test_a_schedule_rule_invokes_its_function_with_the_scheduled_event(
    server: RunningServer, events: Any
) -> None:
    lambda_client, logs = server.client("lambda"), server.client("logs")
    function = f"tick-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, function, RECORDER)
    name = f"every-five-{uuid.uuid4().hex[:8]}"
    rule = events.put_rule(Name=name, ScheduleExpression="cron(0/5 * * * ? *)")["RuleArn"]
    function_arn = lambda_client.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    lambda_client.add_permission(
        FunctionName=function,
        StatementId="eventbridge",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule,
    )
    events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": function_arn}])
    start = server_now(server)
    advance(server, 600)  # two fire times: the next two five-minute marks

    def received() -> list[dict[str, Any]]:
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            found = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern="EB-EVENT")[
                "events"
            ]
            return [json.loads(event["message"].split("EB-EVENT ", 1)[1]) for event in found]
        return []

    deadline = time.monotonic() + 30
    while len(received()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    scheduled = sorted(received(), key=lambda event: event["time"])
    assert len(scheduled) == 2
    marks = [int(start // 300 + 1) * 300, int(start // 300 + 2) * 300]
    assert [event["time"] for event in scheduled] == [
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mark)) for mark in marks
    ]
    assert all(
        event["detail-type"] == "Scheduled Event"
        and event["source"] == "aws.events"
        and event["resources"] == [rule]
        and event["detail"] == {}
        and event["account"] == ACCOUNT
        for event in scheduled
    )


def test_a_function_without_a_permission_for_the_rule_is_not_invoked(
    server: RunningServer, events: Any
) -> None:
    lambda_client, logs = server.client("lambda"), server.client("logs")
    function = f"closed-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, function, RECORDER)
    name = f"closed-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=name, EventPattern=json.dumps({"source": ["closed"]}))
    function_arn = lambda_client.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": function_arn}])
    events.put_events(Entries=[{"Source": "closed", "DetailType": "x", "Detail": "{}"}])
    time.sleep(2)
    with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
        assert logs.filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"] == []


def test_fire_times_survive_a_kill_none_sent_twice(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(data, "--fake-clock") as first:
        events, sqs = first.client("events"), first.client("sqs")
        url, arn = queue_for_events(sqs)
        events.put_rule(Name="minutely", ScheduleExpression="rate(1 minute)")
        events.put_targets(Rule="minutely", Targets=[{"Id": "q", "Arn": arn}])
        start = server_now(first)
        advance(first, 150)  # fire times at +60 and +120
        before = drain(sqs, url, 2)
        first.process.kill()  # SIGKILL: no orderly shutdown
        first.process.wait()
    assert len(before) == 2
    with running_server(data, "--fake-clock") as second:
        events, sqs = second.client("events"), second.client("sqs")
        # The clock restarts at the real time, before the fire times already sent: moving it past
        # them again must not send them twice.
        assert server_now(second) < start + 120
        advance(second, start + 250 - server_now(second))  # now +180 and +240 are due
        after = drain(sqs, url, 2)
        assert events.describe_rule(Name="minutely")["State"] == "ENABLED"
    moments = sorted(
        calendar.timegm(time.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")) for event in before + after
    )
    # Four fire times a minute apart from the rule's creation (just before `start`), each once.
    assert [later - earlier for earlier, later in itertools.pairwise(moments)] == [60, 60, 60]
    assert start + 58 <= moments[0] <= start + 60


@pytest.mark.slow
def test_a_rate_rule_fires_on_the_real_clock(tmp_path: Path) -> None:
    """No fake clock: rate(1 minute) sends its first Scheduled Event a minute after the rule."""
    with running_server(tmp_path / "data") as server:
        events, sqs = server.client("events"), server.client("sqs")
        url, arn = queue_for_events(sqs)
        created = time.time()
        events.put_rule(Name="minutely", ScheduleExpression="rate(1 minute)")
        events.put_targets(Rule="minutely", Targets=[{"Id": "q", "Arn": arn}])
        [event] = drain(sqs, url, 1, timeout=90)
        arrived = time.time()
    assert event["detail-type"] == "Scheduled Event"
    assert 59 <= arrived - created <= 75


# Patterns and the events (by detail "n") each must receive, through PutEvents and rule targets.
PATTERN_TABLE: list[tuple[str, dict[str, Any], set[int]]] = [
    ("exact", {"detail": {"kind": ["order"]}}, {1, 2, 3}),
    ("prefix", {"detail": {"sku": [{"prefix": "AB-"}]}}, {1, 4}),
    ("suffix", {"detail": {"file": [{"suffix": ".png"}]}}, {2}),
    ("anything-but", {"detail": {"kind": [{"anything-but": ["order"]}]}}, {4, 5}),
    ("numeric", {"detail": {"total": [{"numeric": [">", 100, "<=", 500]}]}}, {2, 3}),
    ("exists", {"detail": {"coupon": [{"exists": True}]}}, {3}),
    ("missing", {"detail": {"coupon": [{"exists": False}], "kind": ["order"]}}, {1, 2}),
    ("ignore-case", {"detail": {"country": [{"equals-ignore-case": "fr"}]}}, {1, 5}),
    ("wildcard", {"detail": {"file": [{"wildcard": "img/*.jp*g"}]}}, {1}),
    (
        "or",
        {"$or": [{"detail": {"total": [{"numeric": [">=", 1000]}]}}, {"detail": {"kind": ["refund"]}}]},
        {4, 5},
    ),
    ("array", {"detail": {"tags": ["gift"]}}, {3}),
]
PATTERN_EVENTS = [
    {"n": 1, "kind": "order", "sku": "AB-1", "country": "FR", "total": 50, "file": "img/a.jpeg"},
    {"n": 2, "kind": "order", "sku": "XY-2", "country": "de", "total": 150, "file": "b.png"},
    {"n": 3, "kind": "order", "coupon": "X", "total": 500, "tags": ["gift", "wrap"]},
    {"n": 4, "kind": "refund", "sku": "AB-4", "total": 2000},
    {"n": 5, "kind": "refund", "country": "fr", "total": 1},
]


def test_put_events_pattern_table(events: Any, sqs: Any) -> None:
    url, arn = queue_for_events(sqs)
    suffix = uuid.uuid4().hex[:6]
    for label, pattern, _ in PATTERN_TABLE:
        name = f"table-{label}-{suffix}"
        events.put_rule(Name=name, EventPattern=json.dumps({"source": [f"table-{suffix}"], **pattern}))
        transformer = {
            "InputPathsMap": {"n": "$.detail.n"},
            "InputTemplate": f'{{"rule": "{label}", "n": <n>}}',
        }
        events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn, "InputTransformer": transformer}])
    entries = [
        {"Source": f"table-{suffix}", "DetailType": "t", "Detail": json.dumps(event)}
        for event in PATTERN_EVENTS
    ]
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    expected = sum(len(numbers) for _, _, numbers in PATTERN_TABLE)
    received: dict[str, set[int]] = {label: set() for label, _, _ in PATTERN_TABLE}
    for body in drain(sqs, url, expected):
        received[body["rule"]].add(body["n"])
    assert received == {label: numbers for label, _, numbers in PATTERN_TABLE}
    for label, pattern, numbers in PATTERN_TABLE:  # TestEventPattern agrees
        for event in PATTERN_EVENTS:
            document = {
                "id": "1",
                "account": ACCOUNT,
                "source": "s",
                "time": "2026-01-01T00:00:00Z",
                "region": REGION,
                "resources": [],
                "detail-type": "t",
                "detail": event,
            }
            assert events.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(document))[
                "Result"
            ] is (event["n"] in numbers), (label, event["n"])
    for label, _, _ in PATTERN_TABLE:
        events.remove_targets(Rule=f"table-{label}-{suffix}", Ids=["q"])
        events.delete_rule(Name=f"table-{label}-{suffix}")


def test_put_events_to_a_custom_bus_reach_only_its_rules(events: Any, sqs: Any) -> None:
    bus = f"orders-{uuid.uuid4().hex[:8]}"
    bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
    on_bus_url, on_bus = queue_for_events(sqs)
    on_default_url, on_default = queue_for_events(sqs)
    pattern = json.dumps({"source": [f"custom-{bus}"]})
    events.put_rule(Name="on-bus", EventBusName=bus, EventPattern=pattern)
    events.put_targets(Rule="on-bus", EventBusName=bus, Targets=[{"Id": "q", "Arn": on_bus}])
    default_rule = f"default-{bus}"
    events.put_rule(Name=default_rule, EventPattern=pattern)
    events.put_targets(Rule=default_rule, Targets=[{"Id": "q", "Arn": on_default}])
    answer = events.put_events(
        Entries=[
            {"Source": f"custom-{bus}", "DetailType": "t", "Detail": '{"to": "name"}', "EventBusName": bus},
            {
                "Source": f"custom-{bus}",
                "DetailType": "t",
                "Detail": '{"to": "arn"}',
                "EventBusName": bus_arn,
            },
            {"Source": f"custom-{bus}", "DetailType": "t", "Detail": "{}", "EventBusName": "no-such-bus"},
        ]
    )
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][2] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Event bus no-such-bus does not exist.",
    }
    assert sorted(body["detail"]["to"] for body in drain(sqs, on_bus_url, 2)) == ["arn", "name"]
    assert drain(sqs, on_default_url, 0) == []
    events.remove_targets(Rule=default_rule, Ids=["q"])
    events.delete_rule(Name=default_rule)
    events.remove_targets(Rule="on-bus", EventBusName=bus, Ids=["q"])
    events.delete_event_bus(Name=bus)


def test_the_aws_cli_manages_rules_and_schedules(server: RunningServer) -> None:
    def aws(*args: str) -> Any:
        return run_aws(server, *args)

    name = f"cli-{uuid.uuid4().hex[:8]}"
    arn = aws("events", "put-rule", "--name", name, "--schedule-expression", "cron(0 2 * * ? *)")["RuleArn"]
    assert arn.endswith(f":rule/{name}")
    assert aws("events", "describe-rule", "--name", name)["ScheduleExpression"] == "cron(0 2 * * ? *)"
    aws("events", "delete-rule", "--name", name)
    created = aws(
        "scheduler",
        "create-schedule",
        "--name",
        name,
        "--schedule-expression",
        "rate(5 minutes)",
        "--flexible-time-window",
        "Mode=OFF",
        "--target",
        f"Arn=arn:aws:sqs:{REGION}:{ACCOUNT}:q,RoleArn=arn:aws:iam::{ACCOUNT}:role/r",
        "--state",
        "DISABLED",
    )
    assert created["ScheduleArn"].endswith(f":schedule/default/{name}")
    assert aws("scheduler", "get-schedule", "--name", name)["State"] == "DISABLED"
    aws("scheduler", "delete-schedule", "--name", name)
