"""The embedded SQS through boto3 (json protocol), the `aws` CLI and a query-protocol client,
against a real server: queues and attributes, sending with attributes and delays, long polling,
visibility, batches, dead-letter queues after maxReceiveCount, FIFO order and deduplication, queue
policies, and the errors SQS answers with."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from tests.support.cli import run_aws
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer


@pytest.fixture(scope="module")
def sqs(server: RunningServer) -> Any:
    return server.client("sqs")


def _name(prefix: str = "q") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _error(failure: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    return dict(failure.value.response["Error"])


def test_queue_lifecycle_and_attributes(server: RunningServer, sqs: Any) -> None:
    name = _name()
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"}, tags={"team": "a"})[
        "QueueUrl"
    ]
    assert url == f"{server.endpoint}/000000000000/{name}"
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == url
    with pytest.raises(ClientError) as failure:
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "46"})
    error = _error(failure)
    assert (error["Code"], error["QueryErrorCode"]) == ("QueueAlreadyExists", "QueueNameExists")
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert url in sqs.list_queues(QueueNamePrefix=name[:6])["QueueUrls"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "45"
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}"
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert "FifoQueue" not in attributes
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"DelaySeconds": "2", "ReceiveMessageWaitTimeSeconds": "1"}
    )
    picked = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])["Attributes"]
    assert picked == {"DelaySeconds": "2"}
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a"}
    with pytest.raises(ClientError) as failure:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "50000"})
    assert _error(failure)["Code"] == "InvalidAttributeValue"
    with pytest.raises(ClientError) as failure:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Nonsense"])
    assert _error(failure)["Code"] == "InvalidAttributeName"
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as failure:
        sqs.get_queue_url(QueueName=name)
    error = _error(failure)
    assert (error["Code"], error["QueryErrorCode"], error["Message"]) == (
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "The specified queue does not exist.",
    )
    with pytest.raises(ClientError) as failure:
        sqs.create_queue(QueueName="bad name!")
    assert _error(failure)["Code"] == "InvalidParameterValue"


def test_send_receive_delete_with_attributes(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=_name())["QueueUrl"]
    attributes = {
        "color": {"DataType": "String", "StringValue": "blue"},
        "size": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
    }
    sent = sqs.send_message(QueueUrl=url, MessageBody="héllo", MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest()
    received = sqs.receive_message(
        QueueUrl=url, AttributeNames=["All"], MessageAttributeNames=["All"], VisibilityTimeout=30
    )["Messages"]
    (message,) = received
    assert message["Body"] == "héllo"
    assert message["MessageId"] == sent["MessageId"]
    assert message["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\xff"
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert int(message["Attributes"]["SentTimestamp"]) > 0
    # Hidden while in flight; visible again once its visibility is set to 0.
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert again["Attributes"] == {"ApproximateReceiveCount": "2"}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    counts = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert counts == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
    with pytest.raises(ClientError) as failure:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=10
        )
    assert _error(failure)["Code"] == "AWS.SimpleQueueService.MessageNotInflight"
    with pytest.raises(ClientError) as failure:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage!")
    assert _error(failure)["Code"] == "ReceiptHandleIsInvalid"


def test_long_polling_returns_when_a_message_arrives(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=_name())["QueueUrl"]
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert time.monotonic() - started >= 0.9
    threading.Timer(0.5, lambda: sqs.send_message(QueueUrl=url, MessageBody="late")).start()
    started = time.monotonic()
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    waited = time.monotonic() - started
    assert [message["Body"] for message in messages] == ["late"]
    assert 0.4 < waited < 3


def test_delays_batches_and_purge(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=_name())["QueueUrl"]
    result = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "now", "MessageBody": "now"},
            {"Id": "later", "MessageBody": "later", "DelaySeconds": 2},
            {"Id": "bad", "MessageBody": "x", "DelaySeconds": 901},
        ],
    )
    assert sorted(entry["Id"] for entry in result["Successful"]) == ["later", "now"]
    assert [(entry["Id"], entry["Code"], entry["SenderFault"]) for entry in result["Failed"]] == [
        ("bad", "InvalidParameterValue", True)
    ]
    delayed = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [message["Body"] for message in first] == ["now"]
    second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5)["Messages"]
    assert [message["Body"] for message in second] == ["later"]
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
            for n, message in enumerate(first + second)
        ],
    )
    assert len(deleted["Successful"]) == 2
    for bad in (
        [],
        [{"Id": "a", "MessageBody": "x"}] * 2,
        [{"Id": f"e{n}", "MessageBody": "x"} for n in range(11)],
    ):
        with pytest.raises(ClientError) as failure:
            sqs.send_message_batch(QueueUrl=url, Entries=bad)
        assert _error(failure)["Code"] in (
            "AWS.SimpleQueueService.EmptyBatchRequest",
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        )
    sqs.send_message(QueueUrl=url, MessageBody="gone")
    sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(ClientError) as failure:
        sqs.purge_queue(QueueUrl=url)
    assert _error(failure)["Code"] == "AWS.SimpleQueueService.PurgeQueueInProgress"


def test_dead_letter_queue_after_max_receives(sqs: Any) -> None:
    dead_url = sqs.create_queue(QueueName=_name("dlq"))["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2})
    url = sqs.create_queue(QueueName=_name("src"), Attributes={"RedrivePolicy": policy})["QueueUrl"]
    source_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    ) == {"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2}
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison")["MessageId"]
    for _ in range(2):
        (message,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
        assert message["MessageId"] == sent
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    (moved,) = sqs.receive_message(QueueUrl=dead_url, AttributeNames=["All"])["Messages"]
    assert (moved["MessageId"], moved["Body"]) == (sent, "poison")
    assert moved["Attributes"]["DeadLetterQueueSourceArn"] == source_arn
    assert sqs.list_dead_letter_source_queues(QueueUrl=dead_url)["queueUrls"] == [url]
    with pytest.raises(ClientError) as failure:
        sqs.set_queue_attributes(
            QueueUrl=url,
            Attributes={
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:none", "maxReceiveCount": 1}
                )
            },
        )
    assert _error(failure)["Code"] == "InvalidAttributeValue"


def test_fifo_order_groups_and_deduplication(sqs: Any) -> None:
    name = _name("orders") + ".fifo"
    with pytest.raises(ClientError) as failure:
        sqs.create_queue(QueueName=name)
    assert _error(failure)["Code"] == "InvalidParameterValue"
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(ClientError) as failure:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert _error(failure)["Code"] == "InvalidParameterValue"  # no dedup id, no content-based dedup
    with pytest.raises(ClientError) as failure:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert _error(failure)["Code"] == "MissingParameter"
    sent = {}
    numbers = []
    for index in range(6):
        group = "a" if index % 2 == 0 else "b"
        reply = sqs.send_message(
            QueueUrl=url,
            MessageBody=f"{group}{index}",
            MessageGroupId=group,
            MessageDeduplicationId=f"d{index}",
        )
        sent[f"{group}{index}"] = reply["MessageId"]
        numbers.append(int(reply["SequenceNumber"]))
    assert numbers == sorted(numbers)
    duplicate = sqs.send_message(
        QueueUrl=url, MessageBody="a0", MessageGroupId="a", MessageDeduplicationId="d0"
    )
    assert duplicate["MessageId"] == sent["a0"]
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    bodies = [message["Body"] for message in first]
    assert [body for body in bodies if body.startswith("a")] == ["a0", "a2", "a4"]
    assert [body for body in bodies if body.startswith("b")] == ["b1", "b3", "b5"]
    assert first[0]["Attributes"]["MessageGroupId"] == "a"
    # While a group has messages in flight, none of it is handed out again.
    sqs.send_message(QueueUrl=url, MessageBody="a6", MessageGroupId="a", MessageDeduplicationId="d6")
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    for message in first:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == [
        "a6"
    ]


def test_queue_policies_and_iam(server: RunningServer, sqs: Any) -> None:
    import boto3
    from botocore.config import Config

    iam = server.client("iam")
    user = f"sender-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    theirs = boto3.client(
        "sqs",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )
    url = sqs.create_queue(QueueName=_name())["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with pytest.raises(ClientError) as failure:
        theirs.send_message(QueueUrl=url, MessageBody="x")
    assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::000000000000:user/{user}"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    theirs.send_message(QueueUrl=url, MessageBody="allowed")
    with pytest.raises(ClientError):
        theirs.receive_message(QueueUrl=url)
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "allowed"
    theirs.close()


def test_the_query_protocol_for_older_sdks(server: RunningServer, sqs: Any) -> None:
    url = sqs.create_queue(QueueName=_name())["QueueUrl"]

    def call(action: str, **fields: str) -> tuple[int, str]:
        body = urllib.parse.urlencode({"Action": action, "Version": "2012-11-05", **fields}).encode()
        request = botocore.awsrequest.AWSRequest(
            method="POST",
            url=url,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        botocore.auth.SigV4Auth(
            botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY), "sqs", "us-east-1"
        ).add_auth(request)
        prepared = urllib.request.Request(
            url, data=body, method="POST", headers=dict(request.headers.items())
        )
        try:
            with urllib.request.urlopen(prepared) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    status, text = call("SendMessage", QueueUrl=url, MessageBody="over query")
    assert status == 200 and "<SendMessageResponse" in text and "<MessageId>" in text
    status, text = call("ReceiveMessage", QueueUrl=url)
    assert status == 200 and "<Body>over query</Body>" in text and "<ReceiptHandle>" in text
    status, text = call("GetQueueUrl", QueueName="no-such-queue-here")
    assert status == 400 and "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in text


def test_aws_cli_sqs(server: RunningServer) -> None:
    def aws(*args: str) -> Any:
        return run_aws(server, "sqs", *args, endpoint_url=True)

    name = _name("cli")
    url = aws("create-queue", "--queue-name", name)["QueueUrl"]
    aws("send-message", "--queue-url", url, "--message-body", "from the cli")
    received = aws("receive-message", "--queue-url", url, "--wait-time-seconds", "2")
    assert received["Messages"][0]["Body"] == "from the cli"
    aws("delete-message", "--queue-url", url, "--receipt-handle", received["Messages"][0]["ReceiptHandle"])
    aws("delete-queue", "--queue-url", url)


def test_handles_ids_and_policies_are_checked(sqs: Any) -> None:
    first = sqs.create_queue(QueueName=_name())["QueueUrl"]
    second = sqs.create_queue(QueueName=_name())["QueueUrl"]
    sqs.send_message(QueueUrl=second, MessageBody="theirs")
    handle = sqs.receive_message(QueueUrl=second)["Messages"][0]["ReceiptHandle"]
    with pytest.raises(ClientError) as failure:
        sqs.delete_message(QueueUrl=first, ReceiptHandle=handle)  # a handle from another queue
    assert _error(failure)["Code"] == "ReceiptHandleIsInvalid"
    fifo = sqs.create_queue(
        QueueName=_name() + ".fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    for group in ("g\x00" * 10, "x" * 129, "with space"):
        with pytest.raises(ClientError) as failure:
            sqs.send_message(QueueUrl=fifo, MessageBody="x", MessageGroupId=group)
        assert _error(failure)["Code"] == "InvalidParameterValue"
    for policy in ("[]", '{"Statement": "x"}', "{not json"):
        with pytest.raises(ClientError) as failure:
            sqs.set_queue_attributes(QueueUrl=first, Attributes={"Policy": policy})
        assert _error(failure)["Code"] == "InvalidAttributeValue"
