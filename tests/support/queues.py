"""Queues for tests that watch what services deliver: one whose policy lets a service send, and
reading what arrived."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any


def queue_allowing(sqs: Any, principal: str | None = None, *, fifo: bool = False) -> tuple[str, str]:
    """A new queue, its policy letting the service `principal` (such as `sns.amazonaws.com`) send
    when one is named: (URL, ARN)."""
    name = f"q-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if principal is not None:
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": principal},
            "Action": "sqs:SendMessage",
            "Resource": arn,
        }
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


def take_messages(sqs: Any, url: str, expected: int, timeout: float = 10) -> list[dict[str, Any]]:
    """At least `expected` messages (waiting up to `timeout`), then whatever else arrives within a
    one-second poll, so that an extra message shows; all deleted."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        for message in batch:
            found.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if (len(found) >= expected and not batch) or time.monotonic() > deadline:
            return found
