"""Logs, metrics, alarms and their filters are stored data: a restart keeps them, and the restored
subscription and metric filters keep working."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any

from tests.support.lambda_calls import create_function
from tests.support.server import running_server

PRINTER = {"app.py": "def handler(event, context):\n    print(event['line'])\n"}
CONSUMER = {
    "app.py": (
        "import base64, gzip, json\n\n"
        "def handler(event, context):\n"
        "    document = json.loads(gzip.decompress(base64.b64decode(event['awslogs']['data'])))\n"
        "    for item in document['logEvents']:\n"
        "        print('GOT', item['message'].strip().split('\\t')[-1])\n"
    )
}
GROUP_ARN = "arn:aws:logs:us-east-1:000000000000:log-group:{}:*"


def at(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def wait_for(check: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_logs_metrics_alarms_and_filters_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    started = time.time()
    with running_server(data_dir) as server:
        lambda_client, logs, cloudwatch = (
            server.client("lambda"),
            server.client("logs"),
            server.client("cloudwatch"),
        )
        create_function(lambda_client, "printer", PRINTER)
        create_function(lambda_client, "consumer", CONSUMER)
        lambda_client.invoke(FunctionName="printer", Payload=json.dumps({"line": "before the restart"}))
        lambda_client.add_permission(
            FunctionName="consumer",
            StatementId="logs",
            Action="lambda:InvokeFunction",
            Principal="logs.amazonaws.com",
            SourceArn=GROUP_ARN.format("/aws/lambda/printer"),
        )
        wait_for(lambda: logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/printer")["logGroups"])
        logs.put_subscription_filter(
            logGroupName="/aws/lambda/printer",
            filterName="errors",
            filterPattern="ERROR",
            destinationArn="arn:aws:lambda:us-east-1:000000000000:function:consumer",
        )
        logs.put_metric_filter(
            logGroupName="/aws/lambda/printer",
            filterName="errors",
            filterPattern="ERROR",
            metricTransformations=[
                {"metricName": "PrinterErrors", "metricNamespace": "restart", "metricValue": "1"}
            ],
        )
        logs.put_retention_policy(logGroupName="/aws/lambda/printer", retentionInDays=7)
        cloudwatch.put_metric_data(Namespace="restart", MetricData=[{"MetricName": "Kept", "Value": 42.0}])
        cloudwatch.put_metric_alarm(
            AlarmName="kept",
            Namespace="restart",
            MetricName="Kept",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName="kept", StateValue="ALARM", StateReason="set by the test")

    with running_server(data_dir) as server:
        lambda_client, logs, cloudwatch = (
            server.client("lambda"),
            server.client("logs"),
            server.client("cloudwatch"),
        )
        group = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/printer")["logGroups"][0]
        assert group["retentionInDays"] == 7 and group["metricFilterCount"] == 1
        assert [
            item["message"].strip()
            for item in logs.filter_log_events(
                logGroupName="/aws/lambda/printer", filterPattern='"before the restart"'
            )["events"]
        ] == ["before the restart"]
        assert [
            item["filterName"]
            for item in logs.describe_subscription_filters(logGroupName="/aws/lambda/printer")[
                "subscriptionFilters"
            ]
        ] == ["errors"]
        alarm = cloudwatch.describe_alarms(AlarmNames=["kept"])["MetricAlarms"][0]
        assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "set by the test")
        kept = cloudwatch.get_metric_statistics(
            Namespace="restart",
            MetricName="Kept",
            StartTime=at(started - 600),
            EndTime=at(time.time() + 600),
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        assert [point["Sum"] for point in kept] == [42.0]
        # The restored filters still work.
        lambda_client.invoke(FunctionName="printer", Payload=json.dumps({"line": "ERROR after the restart"}))

        def delivered() -> list[str]:
            try:
                events = logs.filter_log_events(logGroupName="/aws/lambda/consumer", filterPattern="GOT")[
                    "events"
                ]
            except logs.exceptions.ResourceNotFoundException:
                return []
            return [event["message"].strip() for event in events]

        assert wait_for(delivered) == ["GOT ERROR after the restart"]

        def counted() -> float | None:
            points = cloudwatch.get_metric_statistics(
                Namespace="restart",
                MetricName="PrinterErrors",
                StartTime=at(started - 600),
                EndTime=at(time.time() + 600),
                Period=3600,
                Statistics=["Sum"],
            )["Datapoints"]
            return points[0]["Sum"] if points else None

        assert wait_for(counted) == 1.0
