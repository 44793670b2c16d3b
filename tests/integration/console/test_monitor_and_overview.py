"""The Monitor tab (graphs from the function's metrics, with their numbers; the log streams; the
live tail receiving an invocation's lines while the page is open), the Triggers and destinations
tab (what each service says invokes the function), the functions list's sparklines, and the
account overview (usage, cost next to AWS's, the pricing calculator)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from tests.support.browser import needs_chromium, open_tab, shot, sign_in
from tests.support.lambda_calls import create_function, execution_role
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer

pytestmark = needs_chromium
CODE = {
    "app.py": (
        "def handler(event, context):\n"
        "    print('tail marker ' + str(event.get('marker')))\n"
        "    if event.get('fail'):\n"
        "        raise ValueError('asked to fail')\n"
        "    return 'ok'\n"
    )
}


@pytest.fixture(scope="module")
def function(lambda_client: Any) -> str:
    name = f"monitor-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, name, CODE)
    for index in range(5):
        lambda_client.invoke(FunctionName=name, Payload=json.dumps({"marker": index, "fail": index == 4}))
    return name


def _data_total(page: Any, graph: str, column: int = 1) -> float:
    """The sum of one column of a graph's data table."""
    page.get_by_text(f"Data of {graph}", exact=True).click()
    rows = page.get_by_role("table", name=f"{graph} data").locator("tbody tr").all()
    return sum(float(row.locator("td").nth(column).inner_text() or 0) for row in rows)


def test_monitor_graphs_log_streams_and_live_tail(
    page: Any, server: RunningServer, lambda_client: Any, function: str
) -> None:
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    open_tab(page, server, function, "Monitor")
    for title in ("Invocations", "Duration", "Errors", "Throttles", "ConcurrentExecutions"):
        assert page.get_by_role("img", name=title).is_visible(), title
    assert _data_total(page, "Invocations") == 5
    assert _data_total(page, "Errors") == 1
    page.get_by_text("Data of Duration", exact=True).click()
    duration_header = page.get_by_role("table", name="Duration data").locator("thead").inner_text()
    assert re.search(r"p50\s+p90\s+p99", duration_header)
    page.get_by_role("link", name="1 hour").click()
    assert page.get_by_role("link", name="1 hour").get_attribute("aria-current") == "true"
    assert _data_total(page, "Invocations") == 5
    shot(page, "monitor")

    streams = page.get_by_role("table", name="Log streams")
    streams.get_by_role("link").first.click()
    events = page.get_by_role("table", name="Log events").inner_text()
    shot(page, "log-stream")
    assert "START RequestId:" in events and "REPORT RequestId:" in events and "tail marker" in events

    # The live tail: a line logged after the page opened appears without a reload.
    open_tab(page, server, function, "Monitor")
    page.get_by_role("link", name="Live tail").click()
    tail = page.get_by_role("log", name="Live tail")
    assert "tail marker 0" in tail.inner_text()
    marker = uuid.uuid4().hex
    lambda_client.invoke(FunctionName=function, Payload=json.dumps({"marker": marker}))
    from playwright.sync_api import expect

    expect(tail).to_contain_text(f"tail marker {marker}", timeout=20_000)  # polls, no reload
    shot(page, "live-tail")


def test_triggers_and_destinations_are_gathered_from_every_service(
    page: Any, server: RunningServer, lambda_client: Any
) -> None:
    role_arn = execution_role(server, "console-triggers", "arn:aws:iam::aws:policy/AmazonSQSFullAccess")
    name = f"triggered-{uuid.uuid4().hex[:8]}"
    arn = create_function(lambda_client, name, CODE, Role=role_arn)["FunctionArn"]
    bucket = f"console-bucket-{uuid.uuid4().hex[:8]}"
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{bucket}",
    )
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    sns = server.client("sns")
    topic = sns.create_topic(Name=f"console-topic-{uuid.uuid4().hex[:6]}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    events = server.client("events")
    rule = f"console-rule-{uuid.uuid4().hex[:6]}"
    events.put_rule(Name=rule, ScheduleExpression="rate(1 day)")
    events.put_targets(Rule=rule, Targets=[{"Id": "f", "Arn": arn}])
    sqs = server.client("sqs")
    queue = sqs.create_queue(QueueName=f"console-source-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    lambda_client.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn, BatchSize=5)
    lambda_client.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": queue_arn}}
    )

    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    open_tab(page, server, name, "Triggers and destinations")
    triggers = page.get_by_role("table", name="Triggers")
    for kind, source in (
        ("S3 bucket", bucket),
        ("SNS subscription", topic),
        ("EventBridge rule", rule),
        ("Event source mapping", queue_arn),
        ("Permission", "s3.amazonaws.com"),
    ):
        assert triggers.get_by_role("row").filter(has_text=kind).filter(has_text=source).count() == 1, kind
    destinations = page.get_by_role("table", name="Destinations")
    assert (
        destinations.get_by_role("row").filter(has_text="On failure").filter(has_text=queue_arn).count() == 1
    )
    shot(page, "triggers")


def test_sparklines_and_the_account_overview(page: Any, server: RunningServer, lambda_client: Any) -> None:
    function = f"overview-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, function, CODE)
    for index in range(3):
        lambda_client.invoke(FunctionName=function, Payload=json.dumps({"marker": index}))
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    page.get_by_label("Search functions").fill(function)
    page.get_by_role("button", name="Search").click()
    row = page.get_by_role("table", name="Functions").get_by_role("row").filter(has_text=function)
    assert row.get_by_role("img").get_attribute("aria-label") == "3 invocations in the last 24 hours"

    page.get_by_role("link", name="Account overview").click()
    account = page.get_by_role("definition").all_inner_texts()
    assert "1000" in account  # the account's concurrency limit
    usage = page.get_by_role("table", name="Usage this month").get_by_role("row").filter(has_text=function)
    assert usage.locator("td").nth(1).inner_text() == "3"
    cost = page.get_by_label("Cost", exact=True).inner_text()
    assert "AWS Lambda would charge" in cost
    shot(page, "overview")

    # The pricing calculator: 1M invocations of 100 ms at 512 MB is 50,000 GB-seconds,
    # $0.20 + 50,000 × $0.0000166667 = $1.03; all of it within the free tier.
    page.get_by_label("Memory (MB)").fill("512")
    page.get_by_label("Average duration (ms)").fill("100")
    page.get_by_label("Invocations a month").fill("1000000")
    page.get_by_role("button", name="Calculate").click()
    estimate = page.get_by_label("Estimate").inner_text()
    assert re.search(r"Compute\s+50,000\.00 GB-seconds", estimate)
    assert re.search(r"Monthly cost\s+\$1\.03", estimate)
    assert re.search(r"after the free tier\s+\$0\.00", estimate)
    page.get_by_label("Memory (MB)").fill("64")
    page.get_by_role("button", name="Calculate").click()
    assert page.get_by_role("alert").inner_text() == "Memory (MB) must be from 128 to 10,240."
