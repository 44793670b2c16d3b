"""CloudWatch metrics and alarms against a real server started with `--fake-clock`: custom metrics
(json and query protocols), percentiles, metric math, AWS/Lambda metrics, the Embedded Metric Format,
and the classic alarm — notify me if Errors > 2 in five minutes — end to end, moving the clock
instead of sleeping."""

from __future__ import annotations

import contextlib
import datetime
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore import parsers
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from lamina.protocol.model import load_service_model
from tests.support.fake_clock import advance, server_now
from tests.support.lambda_calls import create_function, error_of
from tests.support.queues import queue_allowing, take_messages
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer, running_server

ACCOUNT = "000000000000"
FAILING = {"app.py": "def handler(event, context):\n    raise ValueError('boom')\n"}
NOTIFIER = {
    "app.py": "import json\n\ndef handler(event, context):\n    print('ALARM-EVENT ' + json.dumps(event))\n"
}
EMF = {
    "app.py": (
        "import json, time\n\n"
        "def handler(event, context):\n"
        "    print(json.dumps({'_aws': {'Timestamp': int(time.time() * 1000), 'CloudWatchMetrics': [\n"
        "        {'Namespace': 'shop', 'Dimensions': [['Service']],\n"
        "         'Metrics': [{'Name': 'CartSize', 'Unit': 'Count'}]}]},\n"
        "        'Service': 'cart', 'CartSize': event['size']}))\n"
    )
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("metrics") / "data", "--fake-clock") as running:
        yield running


def at(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def test_custom_metrics_statistics_and_percentiles(server: RunningServer) -> None:
    cloudwatch = server.client("cloudwatch")
    now = server_now(server)
    namespace = f"app-{uuid.uuid4().hex[:6]}"
    dims = [{"Name": "Service", "Value": "cart"}]
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": "Latency",
                "Dimensions": dims,
                "Values": [float(v) for v in range(1, 101)],
                "Unit": "Milliseconds",
            },
            {
                "MetricName": "Latency",
                "Dimensions": dims,
                "StatisticValues": {"SampleCount": 2, "Sum": 300.0, "Minimum": 100.0, "Maximum": 200.0},
                "Timestamp": at(now),
            },
        ],
    )
    result = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        Dimensions=dims,
        StartTime=at(now - 600),
        EndTime=at(now + 60),
        Period=300,
        Statistics=["SampleCount", "Sum", "Minimum", "Maximum", "Average"],
    )
    (point,) = result["Datapoints"]
    assert (point["SampleCount"], point["Sum"], point["Minimum"], point["Maximum"]) == (
        102.0,
        5350.0,
        1.0,
        200.0,
    )
    assert point["Unit"] == "Milliseconds"
    percentiles = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        Dimensions=dims,
        StartTime=at(now - 600),
        EndTime=at(now + 60),
        Period=300,
        ExtendedStatistics=["p50", "p99"],
    )["Datapoints"][0]["ExtendedStatistics"]
    assert percentiles["p50"] == pytest.approx(51, rel=0.03)
    assert percentiles["p99"] == pytest.approx(150, rel=0.03)  # the StatisticSet counts at its average
    # Other dimensions are another metric.
    assert (
        cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName="Latency",
            StartTime=at(now - 600),
            EndTime=at(now + 60),
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        == []
    )
    listed = cloudwatch.list_metrics(Namespace=namespace)["Metrics"]
    assert listed == [{"Namespace": namespace, "MetricName": "Latency", "Dimensions": dims}]
    assert (
        cloudwatch.list_metrics(Namespace=namespace, Dimensions=[{"Name": "Service", "Value": "other"}])[
            "Metrics"
        ]
        == []
    )


def test_bad_metric_input_gets_cloudwatch_errors(server: RunningServer) -> None:
    cloudwatch = server.client("cloudwatch")
    now = server_now(server)
    with pytest.raises(ClientError) as reserved:
        cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[{"MetricName": "x", "Value": 1.0}])
    assert error_of(reserved) == (
        "InvalidParameterValue",
        "The value AWS/Lambda for parameter Namespace is invalid.",
        400,
    )
    with pytest.raises(cloudwatch.exceptions.InvalidParameterValueException):
        cloudwatch.put_metric_data(
            Namespace="app", MetricData=[{"MetricName": "x", "Value": 1.0, "Timestamp": at(now - 20 * 86400)}]
        )
    with pytest.raises(ClientError) as too_many:
        cloudwatch.get_metric_statistics(
            Namespace="app",
            MetricName="x",
            StartTime=at(now - 3 * 86400),
            EndTime=at(now),
            Period=60,
            Statistics=["Sum"],
        )
    assert error_of(too_many)[0] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as neither:
        cloudwatch.get_metric_statistics(
            Namespace="app", MetricName="x", StartTime=at(now - 60), EndTime=at(now), Period=60
        )
    assert error_of(neither)[0] == "MissingParameter"


def test_an_expression_over_two_thousand_years_is_answered_in_part(server: RunningServer) -> None:
    """A fuzzed request once asked for every minute since year 1: an expression's periods are
    bounded by MaxDatapoints (PartialData), never allocated whole."""
    cloudwatch = server.client("cloudwatch")
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "e", "Expression": "SUM(METRICS())", "Period": 60}],
        StartTime=datetime.datetime(1, 1, 2, tzinfo=datetime.UTC),
        EndTime=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
        MaxDatapoints=500,
    )
    assert answer["MetricDataResults"][0]["StatusCode"] == "PartialData"
    assert server.health()["status"] == "ok"


def test_the_query_protocol_of_older_sdks(server: RunningServer) -> None:
    """A form-encoded PutMetricData and a GetMetricStatistics answered in XML, as botocore's query
    parser reads them."""
    now = server_now(server)
    namespace = f"query-{uuid.uuid4().hex[:6]}"
    model = load_service_model("cloudwatch")

    def call(operation: str, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request = AWSRequest(
            "POST",
            server.endpoint + "/",
            data={"Action": operation, "Version": "2010-08-01", **fields},
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "monitoring", "us-east-1").add_auth(request)
        prepared = request.prepare()
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        http = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")
        try:
            with urllib.request.urlopen(http, timeout=10) as response:
                status, body, headers = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as failure:
            status, body, headers = failure.code, failure.read(), dict(failure.headers)
        parsed = parsers.create_parser("query").parse(
            {"body": body, "headers": headers, "status_code": status},
            model.operation_model(operation).output_shape,
        )
        return status, parsed

    status, _ = call(
        "PutMetricData",
        {
            "Namespace": namespace,
            "MetricData.member.1.MetricName": "Orders",
            "MetricData.member.1.Value": "3",
            "MetricData.member.1.Unit": "Count",
        },
    )
    assert status == 200
    stamp = lambda seconds: at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    status, parsed = call(
        "GetMetricStatistics",
        {
            "Namespace": namespace,
            "MetricName": "Orders",
            "StartTime": stamp(now - 300),
            "EndTime": stamp(now + 60),
            "Period": "60",
            "Statistics.member.1": "Sum",
        },
    )
    assert status == 200
    assert [point["Sum"] for point in parsed["Datapoints"]] == [3.0]
    status, parsed = call(
        "PutMetricData",
        {"Namespace": "AWS/EC2", "MetricData.member.1.MetricName": "x", "MetricData.member.1.Value": "1"},
    )
    assert (status, parsed["Error"]["Code"]) == (400, "InvalidParameterValue")


def test_lambda_metrics_and_metric_math(server: RunningServer) -> None:
    lambda_client, cloudwatch = server.client("lambda"), server.client("cloudwatch")
    name = f"flaky-{uuid.uuid4().hex[:6]}"
    create_function(
        lambda_client,
        name,
        {
            "app.py": "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError('no')\n    return 1\n"
        },
    )
    lambda_client.publish_version(FunctionName=name)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    now = server_now(server)
    for fail in (False, False, True, False):
        lambda_client.invoke(FunctionName=name, Payload=json.dumps({"fail": fail}))
    lambda_client.invoke(FunctionName=f"{name}:live", Payload=b"{}")

    def query(metric: str, stat: str, dimensions: list[dict[str, str]], ident: str) -> dict[str, Any]:
        return {
            "Id": ident,
            "MetricStat": {
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dimensions},
                "Period": 300,
                "Stat": stat,
            },
        }

    function = [{"Name": "FunctionName", "Value": name}]
    results = cloudwatch.get_metric_data(
        MetricDataQueries=[
            query("Invocations", "Sum", function, "calls"),
            query("Errors", "Sum", function, "errors"),
            query("Duration", "Maximum", function, "slowest"),
            query("Invocations", "Sum", [*function, {"Name": "Resource", "Value": f"{name}:live"}], "alias"),
            query("Invocations", "Sum", [{"Name": "ExecutedVersion", "Value": "1"}, *function], "executed"),
            {"Id": "rate", "Expression": "errors / calls * 100", "Label": "Error rate"},
        ],
        StartTime=at(now - 600),
        EndTime=at(now + 300),
    )["MetricDataResults"]
    values = {result["Id"]: result["Values"] for result in results}
    assert values["calls"] == [5.0]
    assert values["errors"] == [1.0]
    assert values["slowest"][0] > 0
    assert values["alias"] == [1.0]
    assert values["executed"] == [1.0]
    assert values["rate"] == [20.0]
    assert next(result for result in results if result["Id"] == "rate")["Label"] == "Error rate"
    listed = cloudwatch.list_metrics(
        Namespace="AWS/Lambda", MetricName="Invocations", Dimensions=[{"Name": "FunctionName", "Value": name}]
    )
    assert len(listed["Metrics"]) == 3  # FunctionName; + Resource; + ExecutedVersion


def test_embedded_metric_format_lines_become_metrics(server: RunningServer) -> None:
    lambda_client, cloudwatch = server.client("lambda"), server.client("cloudwatch")
    name = f"emf-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, name, EMF)
    for size in (3, 5):
        lambda_client.invoke(FunctionName=name, Payload=json.dumps({"size": size}))
    deadline = time.monotonic() + 10
    while True:
        points = cloudwatch.get_metric_statistics(
            Namespace="shop",
            MetricName="CartSize",
            Dimensions=[{"Name": "Service", "Value": "cart"}],
            StartTime=at(time.time() - 3600),
            EndTime=at(time.time() + 3600),
            Period=3600,
            Statistics=["Sum", "SampleCount"],
        )["Datapoints"]
        if (points and points[0]["SampleCount"] >= 2) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [(point["Sum"], point["SampleCount"]) for point in points] == [(8.0, 2.0)]


def test_errors_above_two_in_five_minutes_notifies_a_function(server: RunningServer) -> None:
    lambda_client, cloudwatch, logs = (
        server.client("lambda"),
        server.client("cloudwatch"),
        server.client("logs"),
    )
    failing, notifier = f"failing-{uuid.uuid4().hex[:6]}", f"notify-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, failing, FAILING)
    create_function(lambda_client, notifier, NOTIFIER)
    alarm = f"errors-{failing}"
    notifier_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{notifier}"
    lambda_client.add_permission(
        FunctionName=notifier,
        StatementId="alarms",
        Action="lambda:InvokeFunction",
        Principal="lambda.alarms.cloudwatch.amazonaws.com",
        SourceArn=f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{alarm}",
    )
    advance(server, 300 - server_now(server) % 300 + 1)  # a fresh five-minute period starts
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": failing}],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=2,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[notifier_arn],
        OKActions=[notifier_arn],
    )
    assert (
        cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "INSUFFICIENT_DATA"
    )
    for _ in range(2):
        lambda_client.invoke(FunctionName=failing)
    advance(server, 300)
    state = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
    assert state["StateValue"] == "OK"  # two errors are not more than two
    for _ in range(3):
        lambda_client.invoke(FunctionName=failing)
    advance(server, 300)
    state = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
    assert state["StateValue"] == "ALARM"
    assert state["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [3 (")

    def notifications() -> list[dict[str, Any]]:
        try:
            events = logs.filter_log_events(
                logGroupName=f"/aws/lambda/{notifier}", filterPattern="ALARM-EVENT"
            )["events"]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [json.loads(event["message"].split("ALARM-EVENT ", 1)[1]) for event in events]

    deadline = time.monotonic() + 15
    while len(notifications()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    # Each action is its own Event invocation: they may run in either order, so order by alarm time.
    received = sorted(notifications(), key=lambda event: event["alarmData"]["state"]["timestamp"])
    assert [event["alarmData"]["state"]["value"] for event in received] == ["OK", "ALARM"]
    last = received[-1]
    assert last["source"] == "aws.cloudwatch"
    assert last["alarmArn"] == f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{alarm}"
    assert last["alarmData"]["previousState"]["value"] == "OK"
    assert last["alarmData"]["configuration"]["metrics"][0]["metricStat"]["metric"]["name"] == "Errors"

    advance(server, 300)  # a quiet period: back to OK
    assert cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "OK"
    history = cloudwatch.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate")[
        "AlarmHistoryItems"
    ]
    assert [item["HistorySummary"] for item in history] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to ALARM",
        "Alarm updated from INSUFFICIENT_DATA to OK",
    ]
    actions = cloudwatch.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")[
        "AlarmHistoryItems"
    ]
    assert all(item["HistorySummary"].startswith("Successfully executed action") for item in actions)


def test_alarm_actions_need_the_functions_resource_policy(server: RunningServer) -> None:
    lambda_client, cloudwatch = server.client("lambda"), server.client("cloudwatch")
    notifier = f"closed-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, notifier, NOTIFIER)
    alarm = f"manual-{notifier}"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="app",
        MetricName="Nothing",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{notifier}"],
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="testing the action")
    actions = cloudwatch.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")[
        "AlarmHistoryItems"
    ]
    assert [item["HistorySummary"].split(".")[0] for item in actions] == [
        f"Failed to execute action arn:aws:lambda:us-east-1:{ACCOUNT}:function:{notifier}"
    ]
    with pytest.raises(ClientError) as bad_action:
        cloudwatch.put_metric_alarm(
            AlarmName="x",
            Namespace="app",
            MetricName="m",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=["arn:aws:s3:::bucket"],
        )
    assert error_of(bad_action)[0] == "ValidationError"
    with pytest.raises(ClientError) as too_many:
        cloudwatch.put_metric_alarm(
            AlarmName="x",
            Namespace="app",
            MetricName="m",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            DatapointsToAlarm=2,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
    assert error_of(too_many)[0] == "ValidationError"
    cloudwatch.delete_alarms(AlarmNames=[alarm])
    assert cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"] == []
    with pytest.raises(cloudwatch.exceptions.ResourceNotFound):
        cloudwatch.delete_alarms(AlarmNames=[alarm])


CHATTY = {
    "app.py": (
        "import json\n\n"
        "def handler(event, context):\n"
        "    if event.get('bad'):\n"
        "        print('error: invalid input ' + event['bad'])\n"
        "    print(json.dumps({'route': event.get('route', '/'), 'latency': event.get('latency', 1)}))\n"
    )
}


def test_an_alarm_publishes_to_a_topic(server: RunningServer) -> None:
    """An SNS action: the alarm's JSON notification, with CloudWatch's Subject, to a topic of the
    alarm's account (here delivered raw to a queue)."""
    cloudwatch, sns, sqs = server.client("cloudwatch"), server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name=f"alarms-{uuid.uuid4().hex[:8]}")["TopicArn"]
    url, queue = queue_allowing(sqs, "sns.amazonaws.com")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue)
    alarm = f"to-topic-{uuid.uuid4().hex[:8]}"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        AlarmDescription="too many orders",
        Namespace="shop",
        MetricName="Orders",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="testing the topic")
    [message] = take_messages(sqs, url, 1)
    notification = json.loads(message["Body"])
    assert notification["Subject"] == f'ALARM: "{alarm}" in US East (N. Virginia)'
    published = json.loads(notification["Message"])
    assert {
        key: published[key]
        for key in (
            "AlarmName",
            "AlarmDescription",
            "AWSAccountId",
            "NewStateValue",
            "NewStateReason",
            "OldStateValue",
            "Region",
        )
    } == {
        "AlarmName": alarm,
        "AlarmDescription": "too many orders",
        "AWSAccountId": ACCOUNT,
        "NewStateValue": "ALARM",
        "NewStateReason": "testing the topic",
        "OldStateValue": "INSUFFICIENT_DATA",
        "Region": "US East (N. Virginia)",
    }
    assert published["Trigger"]["MetricName"] == "Orders" and published["Trigger"]["Statistic"] == "SUM"
    history = cloudwatch.describe_alarm_history(AlarmName=alarm, HistoryItemType="Action")[
        "AlarmHistoryItems"
    ]
    assert history[0]["HistorySummary"] == f"Successfully executed action {topic}"


def test_metric_filters_turn_matching_log_lines_into_metrics(server: RunningServer) -> None:
    lambda_client, cloudwatch, logs = (
        server.client("lambda"),
        server.client("cloudwatch"),
        server.client("logs"),
    )
    name = f"chatty-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, name, CHATTY)
    lambda_client.invoke(FunctionName=name, Payload=b"{}")  # the log group exists from the first write
    group = f"/aws/lambda/{name}"
    namespace = f"logs-{uuid.uuid4().hex[:6]}"
    deadline = time.monotonic() + 10
    while not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] and time.monotonic() < deadline:
        time.sleep(0.1)
    logs.put_metric_filter(
        logGroupName=group,
        filterName="invalid-input",
        filterPattern='"error: invalid"',
        metricTransformations=[
            {"metricName": "InvalidInputs", "metricNamespace": namespace, "metricValue": "1"}
        ],
    )
    logs.put_metric_filter(
        logGroupName=group,
        filterName="latency",
        filterPattern="{ $.latency > 0 }",
        metricTransformations=[
            {
                "metricName": "Latency",
                "metricNamespace": namespace,
                "metricValue": "$.latency",
                "dimensions": {"Route": "$.route"},
                "unit": "Milliseconds",
            }
        ],
    )
    with pytest.raises(ClientError) as both:
        logs.put_metric_filter(
            logGroupName=group,
            filterName="bad",
            filterPattern="x",
            metricTransformations=[
                {
                    "metricName": "m",
                    "metricNamespace": namespace,
                    "metricValue": "1",
                    "defaultValue": 0,
                    "dimensions": {"a": "$.a"},
                }
            ],
        )
    assert error_of(both)[0] == "InvalidParameterException"
    filters = logs.describe_metric_filters(logGroupName=group)["metricFilters"]
    assert [item["filterName"] for item in filters] == ["invalid-input", "latency"]
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["metricFilterCount"] == 2
    by_metric = logs.describe_metric_filters(metricName="Latency", metricNamespace=namespace)["metricFilters"]
    assert [item["filterName"] for item in by_metric] == ["latency"]

    for payload in (
        {"bad": "a", "route": "/cart", "latency": 30},
        {"route": "/cart", "latency": 50},
        {"bad": "b", "route": "/pay", "latency": 200},
    ):
        lambda_client.invoke(FunctionName=name, Payload=json.dumps(payload))

    def statistic(metric: str, dimensions: list[dict[str, str]], stat: str) -> float | None:
        points = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=dimensions,
            StartTime=at(time.time() - 3600),
            EndTime=at(time.time() + 3600),
            Period=3600,
            Statistics=[stat],
        )["Datapoints"]
        return points[0][stat] if points else None

    deadline = time.monotonic() + 10
    while statistic("InvalidInputs", [], "Sum") != 2.0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert statistic("InvalidInputs", [], "Sum") == 2.0
    assert statistic("Latency", [{"Name": "Route", "Value": "/cart"}], "Average") == 40.0
    assert statistic("Latency", [{"Name": "Route", "Value": "/pay"}], "Maximum") == 200.0

    tested = logs.test_metric_filter(
        filterPattern='"error: invalid"', logEventMessages=["ok", "error: invalid x"]
    )
    assert [match["eventNumber"] for match in tested["matches"]] == [2]
    logs.delete_metric_filter(logGroupName=group, filterName="latency")
    assert [
        item["filterName"] for item in logs.describe_metric_filters(logGroupName=group)["metricFilters"]
    ] == ["invalid-input"]


def test_throttles_and_async_invocation_metrics(server: RunningServer) -> None:
    lambda_client, cloudwatch = server.client("lambda"), server.client("cloudwatch")
    name = f"async-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, name, FAILING)
    lambda_client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    now = server_now(server)
    lambda_client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    dimensions = [{"Name": "FunctionName", "Value": name}]

    def total(metric: str, stat: str = "Sum") -> float | None:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=metric,
            Dimensions=dimensions,
            StartTime=at(now - 600),
            EndTime=at(now + 600),
            Period=600,
            Statistics=[stat],
        )["Datapoints"]
        return points[0][stat] if points else None

    deadline = time.monotonic() + 15
    while total("AsyncEventsDropped") is None and time.monotonic() < deadline:
        time.sleep(0.2)
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    import boto3
    from botocore.config import Config

    once = boto3.client(  # one attempt: a retried throttle would count twice, as on AWS
        "lambda",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(once.exceptions.TooManyRequestsException):
        once.invoke(FunctionName=name, Payload=b"{}")
    assert total("Throttles") == 1.0
    assert total("AsyncEventsReceived") == 1.0
    assert total("AsyncEventsDropped") == 1.0  # one failed run, no retries, no destination
    age = total("AsyncEventAge", "Maximum")
    assert age is not None and age >= 0
    assert total("Errors") == 1.0


def test_cloudwatch_calls_are_authorised_with_iam(server: RunningServer) -> None:
    iam = server.client("iam")
    user = f"viewer-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="read",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "cloudwatch:ListMetrics", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    import boto3
    from botocore.config import Config

    viewer = boto3.client(
        "cloudwatch",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )
    viewer.list_metrics(Namespace="nothing")
    with pytest.raises(ClientError) as denied:
        viewer.put_metric_data(Namespace="app", MetricData=[{"MetricName": "x", "Value": 1.0}])
    code, message, status = error_of(denied)
    assert (code, status) == ("AccessDenied", 403)
    assert f"user/{user} is not authorized to perform: cloudwatch:PutMetricData" in message


def test_an_alarm_on_a_metric_filter_fires_when_the_log_says_error_invalid(server: RunningServer) -> None:
    """The classic: a metric filter counts `error: invalid` lines, an alarm on it notifies a function."""
    lambda_client, cloudwatch, logs = (
        server.client("lambda"),
        server.client("cloudwatch"),
        server.client("logs"),
    )
    notifier = f"pager-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, notifier, NOTIFIER)
    group, namespace = f"/app/{uuid.uuid4().hex[:6]}", f"logs-{uuid.uuid4().hex[:6]}"
    alarm = f"invalid-{notifier}"
    lambda_client.add_permission(
        FunctionName=notifier,
        StatementId="alarms",
        Action="lambda:InvokeFunction",
        Principal="lambda.alarms.cloudwatch.amazonaws.com",
        SourceArn=f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{alarm}",
    )
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="app")
    logs.put_metric_filter(
        logGroupName=group,
        filterName="invalid",
        filterPattern='"error: invalid"',
        metricTransformations=[
            {"metricName": "InvalidErrors", "metricNamespace": namespace, "metricValue": "1"}
        ],
    )
    advance(server, 60 - server_now(server) % 60 + 1)
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace=namespace,
        MetricName="InvalidErrors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{notifier}"],
    )
    now_ms = int(server_now(server) * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="app",
        logEvents=[
            {"timestamp": now_ms, "message": "request ok"},
            {"timestamp": now_ms + 1, "message": "error: invalid input from 10.0.0.7"},
        ],
    )
    time.sleep(0.6)  # the flush loop hands the appended events to the metric filter
    advance(server, 60)
    assert cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "ALARM"
    deadline = time.monotonic() + 15
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            found = logs.filter_log_events(
                logGroupName=f"/aws/lambda/{notifier}", filterPattern="ALARM-EVENT"
            )["events"]
        time.sleep(0.2)
    assert (
        found
        and json.loads(found[0]["message"].split("ALARM-EVENT ", 1)[1])["alarmData"]["alarmName"] == alarm
    )
