"""Bad input to the Logs and CloudWatch APIs gets a 4xx AWS-shaped error, never a 500, and the
server keeps serving: forged page tokens, out-of-range values, unknown names."""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import RunningServer

FORGED = [
    "not-base64!!",
    base64.urlsafe_b64encode(b"not json").decode(),
    base64.urlsafe_b64encode(json.dumps([1, 2]).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps({"x": 1}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps(-5).encode()).decode(),
    "f/notanumber",
    "b/-1",
    "f/\u00b2",  # a digit to str.isdigit(), not to int()
    "b/\u0661\u0662",  # Arabic-Indic digits
    "f/" + "9" * 5000,  # more digits than int() takes
    base64.urlsafe_b64encode(json.dumps([1, "s\u0000", 1]).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps([2**70, "s", 1]).encode()).decode(),
]


def client_error(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as failure:
        call()
    response = failure.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize("token", FORGED)
def test_forged_page_tokens_are_refused(server: RunningServer, token: str) -> None:
    logs, cloudwatch = server.client("logs"), server.client("cloudwatch")
    group = f"/bad/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_metric_filter(
        logGroupName=group,
        filterName="f",
        filterPattern="x",
        metricTransformations=[{"metricName": "m", "metricNamespace": "bad", "metricValue": "1"}],
    )
    calls = [
        lambda: logs.describe_log_groups(nextToken=token),
        lambda: logs.describe_log_streams(logGroupName=group, nextToken=token),
        lambda: logs.filter_log_events(logGroupName=group, nextToken=token),
        lambda: logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=token),
        lambda: logs.describe_metric_filters(logGroupName=group, nextToken=token),
        lambda: logs.describe_subscription_filters(logGroupName=group, nextToken=token),
    ]
    for call in calls:
        code, status = client_error(call)
        assert (code, status) == ("InvalidParameterException", 400)
    for call in (
        lambda: cloudwatch.list_metrics(NextToken=token),
        lambda: cloudwatch.describe_alarms(NextToken=token),
        lambda: cloudwatch.describe_alarm_history(NextToken=token),
    ):
        code, status = client_error(call)
        assert (code, status) == ("InvalidNextToken", 400)
    assert server.health()["status"] == "ok"


def test_other_bad_values_get_client_errors(server: RunningServer) -> None:
    logs, cloudwatch = server.client("logs"), server.client("cloudwatch")
    now = datetime.datetime.now(datetime.UTC)
    checks = [
        lambda: logs.get_log_events(logGroupName="/missing", logStreamName="s"),
        lambda: logs.filter_log_events(logGroupName="/missing"),
        lambda: logs.filter_log_events(logGroupName="/x", logGroupIdentifier="/x"),
        lambda: logs.filter_log_events(logGroupIdentifier="arn:aws:logs:us-east-1:999999999999:log-group:/x"),
        lambda: logs.start_live_tail(logGroupIdentifiers=["arn:aws:logs:bogus"]),
        lambda: logs.put_retention_policy(logGroupName="/missing", retentionInDays=7),
        lambda: logs.describe_log_streams(
            logGroupName="/missing", orderBy="LastEventTime", logStreamNamePrefix="a"
        ),
        lambda: cloudwatch.get_metric_statistics(
            Namespace="n", MetricName="m", StartTime=now, EndTime=now, Period=60, Statistics=["Sum"]
        ),
        lambda: cloudwatch.get_metric_statistics(
            Namespace="n", MetricName="m", StartTime=now, EndTime=now, Period=61, Statistics=["Sum"]
        ),
        lambda: cloudwatch.get_metric_statistics(
            Namespace="n", MetricName="m", StartTime=now, EndTime=now, Period=60, ExtendedStatistics=["p200"]
        ),
        lambda: cloudwatch.get_metric_data(
            MetricDataQueries=[{"Id": "a", "Expression": "b * 2"}],
            StartTime=now,
            EndTime=now + datetime.timedelta(minutes=5),
        ),
        lambda: cloudwatch.get_metric_data(
            MetricDataQueries=[{"Id": "a"}], StartTime=now, EndTime=now + datetime.timedelta(minutes=5)
        ),
        lambda: cloudwatch.put_metric_data(
            Namespace="n", MetricData=[{"MetricName": "m", "Values": [1.0, 2.0], "Counts": [1.0]}]
        ),
        lambda: cloudwatch.set_alarm_state(AlarmName="missing", StateValue="ALARM", StateReason="x"),
        lambda: cloudwatch.put_metric_alarm(
            AlarmName="a",
            Namespace="n",
            MetricName="m",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold",
        ),
    ]
    for check in checks:
        code, status = client_error(check)
        assert 400 <= status < 500, (code, status)
    assert server.health()["status"] == "ok"


def test_messages_and_names_no_store_could_keep_get_a_clear_answer(server: RunningServer) -> None:
    """NUL in a message is kept as written (a database's text column cannot hold it: messages are
    stored as bytes there) but may not be part of a stream name; an unpaired surrogate, which UTF-8
    cannot hold, is refused with the request."""
    logs = server.client("logs")
    group = f"/odd/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)

    def put(message: str, stream: str = "s") -> Any:
        return logs.put_log_events(
            logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": now, "message": message}]
        )

    put("nul \x00 here")
    events = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]
    assert [event["message"] for event in events] == ["nul \x00 here"]
    assert client_error(lambda: put("lone \ud800")) == ("SerializationException", 400)
    for name in ("with \x00 nul", "\x00"):
        assert client_error(
            lambda name=name: logs.create_log_stream(logGroupName=group, logStreamName=name)
        ) == (
            "InvalidParameterException",
            400,
        )
        assert client_error(lambda name=name: put("x", stream=name))[0] == "InvalidParameterException"
        assert (
            client_error(lambda name=name: logs.filter_log_events(logGroupName=group, logStreamNames=[name]))[
                0
            ]
            == "InvalidParameterException"
        )
    # The account's logs still flow.
    put("after")
    found = logs.filter_log_events(logGroupName=group, filterPattern="after")["events"]
    assert [event["message"] for event in found] == ["after"]
