"""Queues as targets of other services, end to end: bucket notifications to a queue (its policy
must let S3 in; S3's test event first), and a function's asynchronous invocation records (OnSuccess
and OnFailure destinations) and dead-letter queue, sent as its execution role."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import LAMBDA_TRUST_POLICY, RunningServer

FAILS_OR_ECHOES = """\
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event}
"""


@pytest.fixture(scope="module")
def sqs(server: RunningServer) -> Any:
    return server.client("sqs")


@pytest.fixture(scope="module")
def sqs_role(server: RunningServer) -> str:
    iam = server.client("iam")
    name = "sqs-targets-tests"
    try:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonSQSFullAccess")
    return str(arn)


def _queue(sqs: Any) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=f"t-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _messages(sqs: Any, url: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        for message in batch:
            found.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert len(found) >= count, f"{count} messages expected, got {len(found)}"
    return found


def test_bucket_notifications_to_a_queue(server: RunningServer, sqs: Any) -> None:
    s3 = server.client("s3")
    bucket = f"to-queue-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    url, arn = _queue(sqs)
    configuration = {"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as failure:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)
    assert failure.value.response["Error"]["ArgumentValue"] == (
        "Permissions on the destination queue do not allow S3 to publish notifications from this bucket"
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)
    (test,) = _messages(sqs, url, 1)
    assert json.loads(test["Body"])["Event"] == "s3:TestEvent"
    s3.put_object(Bucket=bucket, Key="in the queue.txt", Body=b"queued")
    (message,) = _messages(sqs, url, 1)
    record = json.loads(message["Body"])["Records"][0]
    assert (record["eventSource"], record["eventName"]) == ("aws:s3", "ObjectCreated:Put")
    assert record["s3"]["object"]["key"] == "in+the+queue.txt"


def test_async_destinations_and_dead_letter_queues(
    lambda_client: Any, deploy: Callable[..., str], sqs: Any, sqs_role: str
) -> None:
    successes_url, successes = _queue(sqs)
    failures_url, failures = _queue(sqs)
    dead_url, dead = _queue(sqs)
    name = deploy({"app.py": FAILS_OR_ECHOES}, Role=sqs_role, DeadLetterConfig={"TargetArn": dead})
    lambda_client.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnSuccess": {"Destination": successes}, "OnFailure": {"Destination": failures}},
    )
    lambda_client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": 1}))
    failed_id = lambda_client.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"fail": True})
    )["ResponseMetadata"]["RequestId"]
    (success,) = _messages(sqs, successes_url, 1)
    record = json.loads(success["Body"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"echo": {"n": 1}}
    (failure,) = _messages(sqs, failures_url, 1)
    record = json.loads(failure["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"fail": True}
    (dead_letter,) = _messages(sqs, dead_url, 1)
    assert json.loads(dead_letter["Body"]) == {"fail": True}
    attributes = dead_letter["MessageAttributes"]
    assert attributes["RequestID"]["StringValue"] == failed_id
    assert attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert attributes["ErrorMessage"]["StringValue"] == "asked to fail"
