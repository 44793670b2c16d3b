"""The CloudWatch Logs API with boto3 and the aws CLI against a real server: groups, streams,
PutLogEvents / GetLogEvents paging, FilterLogEvents patterns and paging, retention, functions'
own log groups, and who may read what."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.lambda_calls import error_of
from tests.support.server import RunningServer

DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def logs(server: RunningServer) -> Any:
    return server.client("logs")


@pytest.fixture
def group(logs: Any) -> str:
    name = f"/test/{uuid.uuid4().hex[:10]}"
    logs.create_log_group(logGroupName=name, tags={"team": "core"})
    return name


def put(logs: Any, group: str, stream: str, messages: list[str], start: int | None = None) -> dict[str, Any]:
    base = now_ms() - len(messages) if start is None else start
    events = [{"timestamp": base + index, "message": message} for index, message in enumerate(messages)]
    return logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)  # type: ignore[no-any-return]


def test_groups_and_streams_are_created_described_and_deleted(logs: Any, group: str) -> None:
    with pytest.raises(ClientError) as duplicate:
        logs.create_log_group(logGroupName=group)
    assert error_of(duplicate) == (
        "ResourceAlreadyExistsException",
        "The specified log group already exists",
        400,
    )
    described = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [item["logGroupName"] for item in described] == [group]
    assert described[0]["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    assert "retentionInDays" not in described[0]
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"team": "core"}

    for stream in ("b-stream", "a-stream", "c-stream"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName="a-stream")
    put(logs, group, "a-stream", ["late"], start=now_ms())
    put(logs, group, "c-stream", ["early"], start=now_ms() - 5000)
    by_name = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [item["logStreamName"] for item in by_name] == ["a-stream", "b-stream", "c-stream"]
    newest_first = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)
    assert [item["logStreamName"] for item in newest_first["logStreams"]][:2] == ["a-stream", "c-stream"]
    paged = logs.get_paginator("describe_log_streams").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 1}
    )
    assert [item["logStreamName"] for page in paged for item in page["logStreams"]] == [
        "a-stream",
        "b-stream",
        "c-stream",
    ]

    logs.delete_log_stream(logGroupName=group, logStreamName="b-stream")
    assert len(logs.describe_log_streams(logGroupName=group)["logStreams"]) == 2
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    with pytest.raises(ClientError) as missing:
        logs.describe_log_streams(logGroupName=group)
    assert error_of(missing) == ("ResourceNotFoundException", "The specified log group does not exist.", 400)


def test_bad_input_gets_aws_shaped_errors(logs: Any, group: str) -> None:
    with pytest.raises(ClientError) as bad_name:
        logs.create_log_group(logGroupName="has spaces")
    code, message, status = error_of(bad_name)
    assert (code, status) == ("InvalidParameterException", 400)
    assert "at 'logGroupName' failed to satisfy constraint" in message
    with pytest.raises(ClientError) as no_stream:
        put(logs, group, "missing", ["x"])
    assert error_of(no_stream)[:2] == (
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    )
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    with pytest.raises(ClientError) as unordered:
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[{"timestamp": now_ms(), "message": "b"}, {"timestamp": now_ms() - 10, "message": "a"}],
        )
    assert error_of(unordered)[1] == (
        "Log events in a single PutLogEvents request must be in chronological order."
    )
    with pytest.raises(ClientError) as bad_pattern:
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.a = }")
    assert error_of(bad_pattern)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as bad_days:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    assert "Member must satisfy enum value set" in error_of(bad_days)[1]


def test_events_too_old_or_too_new_are_rejected_and_the_rest_kept(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = now_ms()
    events = [
        {"timestamp": now - 15 * DAY_MS, "message": "ancient"},
        {"timestamp": now - 1000, "message": "fine"},
        {"timestamp": now + 3 * 3_600_000, "message": "future"},
    ]
    # Two batches: one batch may not span more than 24 hours.
    with pytest.raises(ClientError) as span:
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    assert "cannot span more than 24 hours" in error_of(span)[1]
    old = logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[events[0]])
    assert old["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    new = logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events[1:])
    assert new["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    stored = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]
    assert [event["message"] for event in stored] == ["fine"]


def test_get_log_events_pages_forward_and_backward(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    put(logs, group, "s", [f"event {index}" for index in range(25)])

    latest = logs.get_log_events(logGroupName=group, logStreamName="s", limit=10)
    assert [event["message"] for event in latest["events"]] == [f"event {index}" for index in range(15, 25)]
    earlier = logs.get_log_events(
        logGroupName=group, logStreamName="s", limit=10, nextToken=latest["nextBackwardToken"]
    )
    assert [event["message"] for event in earlier["events"]] == [f"event {index}" for index in range(5, 15)]

    seen, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName="s", limit=7, **kwargs)
        seen += [event["message"] for event in page["events"]]
        if page["nextForwardToken"] == token:
            break  # the end: the same token comes back, as on AWS
        token = page["nextForwardToken"]
    assert seen == [f"event {index}" for index in range(25)]

    window = logs.get_log_events(
        logGroupName=group,
        logStreamName="s",
        startFromHead=True,
        startTime=latest["events"][0]["timestamp"],
        endTime=latest["events"][2]["timestamp"],
    )
    assert [event["message"] for event in window["events"]] == ["event 15", "event 16"]


def test_filter_log_events_matches_patterns_across_streams(logs: Any, group: str) -> None:
    for stream in ("web-1", "web-2", "worker"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    base = now_ms() - 10_000
    put(
        logs,
        group,
        "web-1",
        ["GET /a 200", "GET /b 500 ERROR", json.dumps({"level": "ERROR", "latency": 300})],
        base,
    )
    put(
        logs,
        group,
        "web-2",
        ["POST /c 200", "error: invalid input", json.dumps({"level": "INFO", "latency": 900})],
        base + 1,
    )
    put(logs, group, "worker", ["job done", "ERROR job failed", "WARN slow"], base + 2)

    def messages(**kwargs: Any) -> list[str]:
        return [event["message"] for event in logs.filter_log_events(logGroupName=group, **kwargs)["events"]]

    assert messages(filterPattern="ERROR") == [
        "GET /b 500 ERROR",
        json.dumps({"level": "ERROR", "latency": 300}),
        "ERROR job failed",
    ]
    assert messages(filterPattern='"error: invalid"') == ["error: invalid input"]
    assert messages(filterPattern="ERROR -job") == [
        "GET /b 500 ERROR",
        json.dumps({"level": "ERROR", "latency": 300}),
    ]
    assert messages(filterPattern="?WARN ?POST") == ["POST /c 200", "WARN slow"]
    assert messages(filterPattern="{ $.latency > 500 }") == [json.dumps({"level": "INFO", "latency": 900})]
    assert messages(filterPattern='{ $.level = "ERROR" && $.latency > 100 }') == [
        json.dumps({"level": "ERROR", "latency": 300})
    ]
    assert messages(filterPattern="[method, path, status = 5*, ...]") == ["GET /b 500 ERROR"]
    assert messages(filterPattern="ERROR", logStreamNames=["worker"]) == ["ERROR job failed"]
    assert messages(filterPattern="200", logStreamNamePrefix="web") == ["GET /a 200", "POST /c 200"]
    everything = logs.filter_log_events(logGroupName=group)["events"]
    assert len(everything) == 9
    assert [event["timestamp"] for event in everything] == sorted(event["timestamp"] for event in everything)
    assert len({event["eventId"] for event in everything}) == 9

    pages = list(
        logs.get_paginator("filter_log_events").paginate(logGroupName=group, PaginationConfig={"PageSize": 4})
    )
    assert [event["message"] for page in pages for event in page["events"]] == [
        event["message"] for event in everything
    ]
    assert len(pages) == 3


def test_retention_hides_and_deletes_expired_events(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    put(logs, group, "s", ["three days old"], start=now_ms() - 3 * DAY_MS)
    put(logs, group, "s", ["fresh"])
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 1
    assert [event["message"] for event in logs.filter_log_events(logGroupName=group)["events"]] == ["fresh"]
    stored = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]
    assert [event["message"] for event in stored] == ["fresh"]
    rejected = put(logs, group, "s", ["two days old"], start=now_ms() - 2 * DAY_MS)
    assert rejected["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]


def test_a_functions_invocations_land_in_its_log_group(
    logs: Any, deploy: Callable[..., str], lambda_client: Any
) -> None:
    name = deploy({"app.py": "def handler(event, context):\n    print('order', event['id'])\n    return 1\n"})
    for order in range(3):
        lambda_client.invoke(FunctionName=name, Payload=json.dumps({"id": order}))
    group = f"/aws/lambda/{name}"
    deadline = time.monotonic() + 10
    while True:
        reports = logs.filter_log_events(logGroupName=group, filterPattern="REPORT")["events"]
        if len(reports) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(reports) == 3
    assert all("Billed Duration" in event["message"] for event in reports)
    orders = logs.filter_log_events(logGroupName=group, filterPattern='"order 2"')["events"]
    assert [event["message"].split("\t")[-1].strip() for event in orders] == ["order 2"]
    streams = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)
    assert streams["logStreams"][0]["logStreamName"].endswith(tuple("0123456789abcdef"))
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupName"] == group


def test_iam_policies_decide_who_reads_which_group(server: RunningServer, logs: Any, group: str) -> None:
    other = f"{group}-other"
    logs.create_log_group(logGroupName=other)
    iam = server.client("iam")
    user = f"reader-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:FilterLogEvents", "logs:DescribeLogStreams"],
                "Resource": f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*",
            }
        ],
    }
    iam.put_user_policy(UserName=user, PolicyName="read-one", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = boto3.client(
        "logs",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )
    assert as_user.filter_log_events(logGroupName=group)["events"] == []
    with pytest.raises(ClientError) as denied:
        as_user.filter_log_events(logGroupName=other)
    code, message, status = error_of(denied)
    assert (code, status) == ("AccessDeniedException", 403)
    assert f"user/{user} is not authorized to perform: logs:FilterLogEvents" in message
    with pytest.raises(ClientError) as no_create:
        as_user.create_log_group(logGroupName=f"{group}-mine")
    assert error_of(no_create)[0] == "AccessDeniedException"


def test_the_aws_cli_reads_and_writes_logs(server: RunningServer, logs: Any, group: str) -> None:
    def aws(*args: str) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "awscli", "logs", *args, "--output", "json"],
            env=server.cli_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None

    aws("create-log-stream", "--log-group-name", group, "--log-stream-name", "cli")
    aws(
        "put-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        "cli",
        "--log-events",
        f"timestamp={now_ms()},message=hello from the cli",
    )
    found = aws("filter-log-events", "--log-group-name", group, "--filter-pattern", "cli")
    assert [event["message"] for event in found["events"]] == ["hello from the cli"]
    streams = aws("describe-log-streams", "--log-group-name", group)
    assert [stream["logStreamName"] for stream in streams["logStreams"]] == ["cli"]


CONSUMER = """
import base64, gzip, json

def handler(event, context):
    document = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    for item in document["logEvents"]:
        print("GOT", json.dumps({
            "type": document["messageType"], "owner": document["owner"], "group": document["logGroup"],
            "filters": document["subscriptionFilters"], "message": item["message"].strip().split("\\t")[-1],
        }))
"""
PRODUCER = "def handler(event, context):\n    print(event['line'])\n"


def _wait_for(check: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_subscription_filters_deliver_only_with_a_matching_resource_policy(
    logs: Any, deploy: Callable[..., str], lambda_client: Any
) -> None:
    producer, consumer = deploy({"app.py": PRODUCER}), deploy({"app.py": CONSUMER})
    group = f"/aws/lambda/{producer}"
    lambda_client.invoke(FunctionName=producer, Payload=json.dumps({"line": "warming up"}))
    group_arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    consumer_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{consumer}"

    def subscribe() -> None:
        logs.put_subscription_filter(
            logGroupName=group, filterName="errors", filterPattern="ERROR", destinationArn=consumer_arn
        )

    with pytest.raises(ClientError) as no_policy:
        subscribe()
    assert error_of(no_policy)[:2] == (
        "InvalidParameterException",
        "Could not execute the lambda function. Make sure you have given CloudWatch Logs permission to "
        "execute your function.",
    )
    lambda_client.add_permission(
        FunctionName=consumer,
        StatementId="other-group",
        Action="lambda:InvokeFunction",
        Principal="logs.amazonaws.com",
        SourceArn="arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/someone-else:*",
    )
    with pytest.raises(ClientError) as wrong_source:
        subscribe()
    assert error_of(wrong_source)[0] == "InvalidParameterException"
    lambda_client.add_permission(
        FunctionName=consumer,
        StatementId="from-producer",
        Action="lambda:InvokeFunction",
        Principal="logs.amazonaws.com",
        SourceArn=group_arn,
        SourceAccount="000000000000",
    )
    subscribe()
    described = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert [(item["filterName"], item["filterPattern"], item["destinationArn"]) for item in described] == [
        ("errors", "ERROR", consumer_arn)
    ]

    lambda_client.invoke(FunctionName=producer, Payload=json.dumps({"line": "ERROR disk full"}))
    lambda_client.invoke(FunctionName=producer, Payload=json.dumps({"line": "INFO all good"}))

    def delivered() -> list[dict[str, Any]]:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{consumer}", filterPattern="GOT")[
                "events"
            ]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [json.loads(event["message"].split("GOT ", 1)[1]) for event in events]

    got = _wait_for(delivered)
    assert got == [
        {
            "type": "DATA_MESSAGE",
            "owner": "000000000000",
            "group": group,
            "filters": ["errors"],
            "message": "ERROR disk full",
        }
    ]

    # The policy is checked at every delivery, not only when the filter is stored.
    lambda_client.remove_permission(FunctionName=consumer, StatementId="from-producer")
    lambda_client.invoke(FunctionName=producer, Payload=json.dumps({"line": "ERROR after revoke"}))
    assert _wait_for(
        lambda: logs.filter_log_events(logGroupName=group, filterPattern='"after revoke"')["events"]
    )
    time.sleep(1.5)  # several delivery rounds
    assert [item["message"] for item in delivered()] == ["ERROR disk full"]

    logs.delete_subscription_filter(logGroupName=group, filterName="errors")
    assert logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"] == []
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_subscription_filter(logGroupName=group, filterName="errors")


def test_start_live_tail_streams_new_events_to_boto3(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="live")
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    response = logs.start_live_tail(logGroupIdentifiers=[arn], logEventFilterPattern="ERROR")
    stream = response["responseStream"]
    events = iter(stream)
    first = next(events)
    assert first["sessionStart"]["logGroupIdentifiers"] == [arn]
    put(logs, group, "live", ["INFO skipped", "ERROR shown"])
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        update = next(events)["sessionUpdate"]
        assert update["sessionMetadata"] == {"sampled": False}
        seen += update["sessionResults"]
    stream.close()
    assert [(event["message"], event["logStreamName"], event["logGroupIdentifier"]) for event in seen] == [
        ("ERROR shown", "live", arn)
    ]
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.start_live_tail(logGroupIdentifiers=["arn:aws:logs:us-east-1:000000000000:log-group:/nope"])


def test_aws_cli_start_live_tail_follows_a_functions_logs(
    server: RunningServer, logs: Any, deploy: Callable[..., str], lambda_client: Any
) -> None:
    name = deploy({"app.py": "def handler(event, context):\n    print('hello', event['n'])\n"})
    lambda_client.invoke(FunctionName=name, Payload=json.dumps({"n": 0}))
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/{name}"
    process = subprocess.Popen(
        [sys.executable, "-m", "awscli", "logs", "start-live-tail", "--log-group-identifiers", arn],
        env=server.cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Lines arrive through a thread, so that waiting for one never outlasts the deadline.
    arrived: queue.Queue[str] = queue.Queue()

    def read_lines() -> None:
        for line in process.stdout or ():
            arrived.put(line)

    threading.Thread(target=read_lines, daemon=True).start()
    lines: list[str] = []

    def numbers_seen() -> set[int]:
        return {int(found) for line in lines for found in re.findall(r"hello (\d+)", line)}

    def wait_for(number: int | None, until: float) -> bool:
        """Until `until`, collect lines until `number` (any number if None) has been printed."""
        while time.monotonic() < until and process.poll() is None:
            with contextlib.suppress(queue.Empty):
                lines.append(arrived.get(timeout=max(0.01, min(0.2, until - time.monotonic()))))
            seen = numbers_seen()
            if (number in seen) if number is not None else bool(seen):
                return True
        return False

    deadline = time.monotonic() + 60
    try:
        # The session opens some time after the CLI starts (later on a loaded machine), and the CLI
        # prints nothing until an event comes: invoke until one shows it is open.
        number = 0
        while not wait_for(None, min(deadline, time.monotonic() + 1.0)) and time.monotonic() < deadline:
            number += 1
            lambda_client.invoke(FunctionName=name, Payload=json.dumps({"n": number}))
        last = number + 1
        lambda_client.invoke(FunctionName=name, Payload=json.dumps({"n": last}))
        followed = wait_for(last, deadline)
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)  # also closes the pipes
    printed = "".join(lines)
    assert followed, (printed, errors)
    assert 0 not in numbers_seen()  # only what came after the session started
    assert "START RequestId" in printed


def test_names_up_to_the_apis_512_characters_work(logs: Any) -> None:
    """Valid names whose encoded file name would pass the file system's 255 bytes (found by the API
    fuzzer: CreateLogGroup with 300 characters answered 500)."""
    group = f"/test/{uuid.uuid4().hex[:8]}/" + "g" * 490
    stream = "🙂" * 60 + "s" * 100
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    put(logs, group, stream, ["one", "two"])
    assert [
        item["logGroupName"] for item in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    ] == [group]
    assert [
        item["logStreamName"] for item in logs.describe_log_streams(logGroupName=group)["logStreams"]
    ] == [stream]
    events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    assert [event["message"] for event in events] == ["one", "two"]
    logs.delete_log_stream(logGroupName=group, logStreamName=stream)
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
