"""The Replay tab (beyond AWS): the function's recorded invocations (LAMINA_RECORD_EVENTS=on) with
their status and duration; re-running one (Test with its exact event) or saving it as a test
event; and redriving the failed asynchronous events its dead-letter queue or on-failure SQS
destination holds.

Recorded events are as sensitive as the function's code: seeing them takes what reading the
function takes (GetFunction); re-running takes InvokeFunction; redriving takes the queue's
ReceiveMessage and DeleteMessage and the function's InvokeFunction, each asked of the API as the
signed-in identity."""

from __future__ import annotations

import json
from typing import Any

from lamina.console.pages.function_page import FunctionHome, describe, event_invoke_config, home_of, tab_page
from lamina.console.pages.testing import run_test
from lamina.console.saved_events import PRIVATE, SavedEvents, valid_event_name
from lamina.console.visit import Visit, redirect
from lamina.domain.recordings import RECORD_VARIABLE, recording_policy
from lamina.errors import AwsError
from lamina.store.ports import RecordingStore
from lamina.transport.messages import LeanResponse

__all__ = ["act", "redrive", "show"]

LISTED = 50
MAX_REDRIVEN = 100  # events one press of Redrive sends back


async def _store(visit: Visit, home: FunctionHome) -> RecordingStore | None:
    """The recordings of the function's own account-region."""
    reader = visit.parts.recordings
    return await reader(home.account, home.region) if reader is not None else None


def _queue_destinations(configuration: dict[str, Any], async_config: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, SQS queue ARN) of the places failed asynchronous events land."""
    found = []
    dead_letter = (configuration.get("DeadLetterConfig") or {}).get("TargetArn", "")
    if dead_letter.startswith("arn:aws:sqs:"):
        found.append(("Dead-letter queue", dead_letter))
    on_failure = ((async_config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination", "")
    if on_failure.startswith("arn:aws:sqs:"):
        found.append(("On-failure destination", on_failure))
    return found


async def _queue_url(visit: Visit, arn: str) -> str:
    _, _, _, _, account, queue = arn.split(":", 5)
    answer = await visit.call("sqs", "GetQueueUrl", {"QueueName": queue, "QueueOwnerAWSAccountId": account})
    return str(answer["QueueUrl"])


async def _queues(visit: Visit, name: str, configuration: dict[str, Any]) -> list[dict[str, Any]]:
    queues = []
    for label, arn in _queue_destinations(configuration, await event_invoke_config(visit, name)):
        waiting: str = "?"
        try:
            attributes = await visit.call(
                "sqs",
                "GetQueueAttributes",
                {"QueueUrl": await _queue_url(visit, arn), "AttributeNames": ["ApproximateNumberOfMessages"]},
            )
            waiting = str((attributes.get("Attributes") or {}).get("ApproximateNumberOfMessages", "0"))
        except AwsError as refused:
            waiting = f"{refused.code}: {refused.message}"
        queues.append({"label": label, "arn": arn, "waiting": waiting})
    return queues


def _notice(query: dict[str, str], queues: list[str]) -> str | None:
    """What the redirect after a change says happened, from checked values only (a link cannot
    make the page say anything else)."""
    if query.get("recording") == "on":
        return "Recording is on."
    count, queue = query.get("redrove", ""), query.get("queue", "")
    if count.isascii() and count.isdigit() and queue in queues:
        return f"Redrove {int(count)} events from {queue}."
    return None


async def show(visit: Visit, name: str, status: int = 200, **values: Any) -> LeanResponse:
    described = await describe(visit, name)
    configuration = described["Configuration"]
    home = home_of(configuration)
    environment = (configuration.get("Environment") or {}).get("Variables") or {}
    store = await _store(visit, home)
    recorded = await store.recent(home.name, LISTED) if store is not None else []
    queues = await _queues(visit, name, configuration)
    return await tab_page(
        visit,
        name,
        "replay",
        status,
        described,
        recording=recording_policy(environment),
        recorded=recorded,
        available=store is not None,
        queues=queues,
        notice=values.pop("notice", _notice(visit.query, [queue["arn"] for queue in queues])),
        **values,
    )


async def act(visit: Visit, name: str) -> LeanResponse:
    """Re-run a recording, save it as a test event, or turn recording on."""
    action = visit.form.get("action", "")
    described = await describe(visit, name)
    configuration = described["Configuration"]
    home = home_of(configuration)
    if action == "record":
        variables = dict((configuration.get("Environment") or {}).get("Variables") or {})
        variables[RECORD_VARIABLE] = "on"
        await visit.call(
            "lambda",
            "UpdateFunctionConfiguration",
            {"FunctionName": name, "Environment": {"Variables": variables}},
        )
        return redirect(f"/functions/{visit.quoted(name)}/replay?recording=on")
    store = await _store(visit, home)
    found = await store.get(home.name, visit.form.get("request_id", "")) if store is not None else None
    if found is None:
        return await show(
            visit, name, 404, problem="That recording is gone (kept for a limited time and size)."
        )
    event = found.payload.decode("utf-8", "replace")
    if action == "save":
        saved = visit.parts.documents
        event_name = visit.form.get("event_name", "").strip()
        if saved is None or not valid_event_name(event_name):
            return await show(
                visit, name, 400, problem="An event name is 1 to 25 letters, digits, hyphens or underscores."
            )
        try:
            await SavedEvents(saved).save(
                home.account,
                home.region,
                home.name,
                visit.principal.arn,
                PRIVATE,
                event_name,
                event,
            )
        except ValueError as full:
            return await show(visit, name, 400, problem=str(full))
        return await show(visit, name, notice=f"Saved the private event {event_name}.")
    return await show(
        visit, name, replayed=found.request_id, event=event, **await run_test(visit, name, event)
    )


def _event_of(body: str) -> str:
    """The event a dead-lettered message carries: a dead-letter queue gets the event itself, an
    on-failure destination an invocation record whose requestPayload is the event."""
    try:
        document = json.loads(body)
        if isinstance(document, dict) and "requestContext" in document and "requestPayload" in document:
            return json.dumps(document["requestPayload"])
    except (ValueError, RecursionError):
        return body
    return body


async def redrive(visit: Visit, name: str) -> LeanResponse:
    """Send the queue's messages back to the function as asynchronous invocations, deleting each
    one the function accepted (a refused one stays in the queue)."""
    described = await describe(visit, name)
    arn = visit.form.get("queue", "")
    allowed = [
        queue
        for _, queue in _queue_destinations(
            described["Configuration"], await event_invoke_config(visit, name)
        )
    ]
    if arn not in allowed:
        return await show(
            visit, name, 400, problem="That queue is not where this function's failed events go."
        )
    url = await _queue_url(visit, arn)
    redriven = 0
    while redriven < MAX_REDRIVEN:
        batch = await visit.call(
            "sqs", "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 60}
        )
        messages = batch.get("Messages") or []
        if not messages:
            break
        for message in messages:
            await visit.call(
                "lambda",
                "Invoke",
                {
                    "FunctionName": name,
                    "InvocationType": "Event",
                    "Payload": _event_of(message["Body"]).encode(),
                },
            )
            await visit.call(
                "sqs", "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]}
            )
            redriven += 1
    return redirect(f"/functions/{visit.quoted(name)}/replay?redrove={redriven}&queue={visit.quoted(arn)}")
