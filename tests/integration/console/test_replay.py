"""The Replay tab: a function that records (LAMINA_RECORD_EVENTS=on) lists its invocations with
status and duration; one is re-run with its exact event or saved as a test event; recording is
turned on from the tab; recorded events are sealed at rest; failed asynchronous events in a
dead-letter queue are redriven to the function."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from tests.support.browser import needs_chromium, open_tab, shot, sign_in
from tests.support.lambda_calls import create_function, execution_role, wait_active
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer

pytestmark = needs_chromium
CODE = {
    "app.py": (
        "import os\n\n"
        "def handler(event, context):\n"
        "    if event.get('fail') and not os.environ.get('FIXED'):\n"
        "        raise ValueError('asked to fail')\n"
        "    return {'seen': event}\n"
    )
}
RECORDING = {"Variables": {"LAMINA_RECORD_EVENTS": "on"}}


def test_recorded_invocations_are_re_run_and_saved(
    page: Any, server: RunningServer, lambda_client: Any
) -> None:
    name = f"replay-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, name, CODE, Environment=RECORDING)
    secret = f"secret-{uuid.uuid4().hex}"
    lambda_client.invoke(FunctionName=name, Payload=json.dumps({"order": 1, "token": secret}))
    failed = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"order": 2, "fail": True}))
    failed_id = failed["ResponseMetadata"]["RequestId"]

    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    open_tab(page, server, name, "Replay")
    table = page.get_by_role("table", name="Recorded invocations")
    rows = table.locator("tbody tr")
    assert rows.count() == 2
    failed_row = rows.filter(has_text=failed_id)
    assert "Failed" in failed_row.inner_text() and "$LATEST" in failed_row.inner_text()
    assert "Succeeded" in rows.filter(has_not_text=failed_id).inner_text()
    shot(page, "replay")

    # The events are sealed at rest: the recordings file does not hold them in plain text.
    recordings = list(Path(server.data_dir).rglob("recordings.db*"))
    assert recordings and not any(secret.encode() in path.read_bytes() for path in recordings)

    # Re-run the failed one: its exact event, the result shown as the Test tab shows it.
    failed_row.get_by_role("button", name=f"Re-run {failed_id}").click()
    result = page.get_by_role("region", name="Execution result")
    assert "Execution result: failed" in result.inner_text()
    assert "asked to fail" in result.get_by_label("Response").inner_text()

    # Save it as a test event, which the Test tab then offers.
    row = (
        page.get_by_role("table", name="Recorded invocations").locator("tbody tr").filter(has_text=failed_id)
    )
    row.get_by_label("Test event name").fill("the-failure")
    row.get_by_role("button", name=f"Save {failed_id} as a test event").click()
    assert page.get_by_role("status").inner_text() == "Saved the private event the-failure."
    open_tab(page, server, name, "Test")
    page.get_by_label("Saved event").select_option(label="the-failure (private)")
    page.get_by_role("button", name="Open saved event").click()
    assert json.loads(page.get_by_label("Event JSON").input_value()) == {"order": 2, "fail": True}


def test_recording_is_turned_on_from_the_tab(page: Any, server: RunningServer, lambda_client: Any) -> None:
    name = f"replay-off-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, name, CODE)
    lambda_client.invoke(FunctionName=name, Payload=b'{"before": true}')
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    open_tab(page, server, name, "Replay")
    assert (
        page.get_by_role("table", name="Recorded invocations").inner_text().count("No recorded invocations")
        == 1
    )
    page.get_by_role("button", name="Turn on recording").click()
    assert page.get_by_role("status").inner_text() == "Recording is on."
    wait_active(lambda_client, name)
    variables = lambda_client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    assert variables == {"LAMINA_RECORD_EVENTS": "on"}
    lambda_client.invoke(FunctionName=name, Payload=b'{"after": true}')
    page.reload()
    assert page.get_by_role("table", name="Recorded invocations").locator("tbody tr").count() == 1


def test_failed_async_events_are_redriven_from_the_dead_letter_queue(
    page: Any, server: RunningServer, lambda_client: Any
) -> None:
    role_arn = execution_role(server, "replay-dlq", "arn:aws:iam::aws:policy/AmazonSQSFullAccess")
    sqs = server.client("sqs")
    queue = sqs.create_queue(QueueName=f"replay-dlq-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    name = f"replay-async-{uuid.uuid4().hex[:8]}"
    create_function(
        lambda_client,
        name,
        CODE,
        Role=role_arn,
        Environment=RECORDING,
        DeadLetterConfig={"TargetArn": queue_arn},
    )
    lambda_client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lambda_client.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"fail": True, "n": 7})
    )
    deadline = time.monotonic() + 30
    while _waiting(sqs, queue) == 0:
        assert time.monotonic() < deadline, "the failed event never reached the dead-letter queue"
        time.sleep(0.3)

    # Fix the function, then redrive: the event runs again and leaves the queue.
    lambda_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {**RECORDING["Variables"], "FIXED": "1"}}
    )
    wait_active(lambda_client, name)
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    open_tab(page, server, name, "Replay")
    queues = page.get_by_role("table", name="Failure queues")
    assert "1" in queues.get_by_role("row").filter(has_text=queue_arn).inner_text()
    queues.get_by_role("button", name="Redrive Dead-letter queue").click()
    assert page.get_by_role("status").inner_text() == f"Redrove 1 events from {queue_arn}."
    assert _waiting(sqs, queue) == 0
    deadline = time.monotonic() + 30
    while True:
        page.reload()
        statuses = (
            page.get_by_role("table", name="Recorded invocations").locator("tbody tr").all_inner_texts()
        )
        if any("Succeeded" in row for row in statuses):
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.5)
    shot(page, "redrive")


def _waiting(sqs: Any, queue: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
