"""Event source mappings from SQS queues to functions, end to end through boto3: batches run the
function with AWS's SQS event records, filters pick the messages, a partial batch failure leaves only
the failed messages (which reach the dead-letter queue after maxReceiveCount), states move as on
Lambda, FIFO order holds within a group, and pollers scale out with the backlog."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import LAMBDA_TRUST_POLICY, RunningServer

RECORDER = """\
import json
import os
import time

import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"]) if record["body"].startswith("{") else {"text": record["body"]}
        if body.get("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        time.sleep(body.get("sleep", 0))
        sqs.send_message(
            QueueUrl=os.environ["RESULTS"],
            MessageBody=json.dumps({"record": record, "batch": len(event["Records"]), "at": time.time()}),
        )
    return {"batchItemFailures": failures}
"""


@pytest.fixture(scope="module")
def sqs(server: RunningServer) -> Any:
    return server.client("sqs")


@pytest.fixture(scope="module")
def role(server: RunningServer) -> str:
    iam = server.client("iam")
    name = "event-source-mapping-tests"
    try:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonSQSFullAccess")
    return str(arn)


def _queue(sqs: Any, name: str | None = None, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name or f"esm-{uuid.uuid4().hex[:12]}", Attributes=attributes)[
        "QueueUrl"
    ]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _results(sqs: Any, url: str, count: int, timeout: float = 40) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert len(found) >= count, f"{count} results expected, got {len(found)}"
    return found


def _wait_state(lambda_client: Any, mapping_uuid: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        mapping = lambda_client.get_event_source_mapping(UUID=mapping_uuid)
        if mapping["State"] == state:
            return dict(mapping)
        assert time.monotonic() < deadline, mapping["State"]
        time.sleep(0.05)


def _count(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_batches_run_the_function_with_sqs_records(
    lambda_client: Any, deploy: Callable[..., str], sqs: Any, role: str
) -> None:
    source_url, source_arn = _queue(sqs)
    results_url, _ = _queue(sqs)
    function = deploy(
        {"app.py": RECORDER}, Role=role, Timeout=10, Environment={"Variables": {"RESULTS": results_url}}
    )
    created = lambda_client.create_event_source_mapping(
        EventSourceArn=source_arn, FunctionName=function, BatchSize=10, MaximumBatchingWindowInSeconds=1
    )
    assert created["State"] == "Creating"
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert created["EventSourceMappingArn"].endswith(f":event-source-mapping:{created['UUID']}")
    mapping = _wait_state(lambda_client, created["UUID"], "Enabled")
    assert mapping["FunctionArn"].endswith(f":function:{function}")
    assert mapping["StateTransitionReason"] == "USER_INITIATED"
    sqs.send_message_batch(
        QueueUrl=source_url,
        Entries=[
            {
                "Id": str(n),
                "MessageBody": f"message {n}",
                "MessageAttributes": {"n": {"DataType": "Number", "StringValue": str(n)}},
            }
            for n in range(5)
        ],
    )
    results = _results(sqs, results_url, 5)
    record = next(result["record"] for result in results if result["record"]["body"] == "message 0")
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == source_arn
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert set(record["attributes"]) >= {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"}
    assert record["messageAttributes"]["n"] == {
        "stringValue": "0",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Number",
    }
    assert record["md5OfBody"] and record["receiptHandle"]
    assert max(result["batch"] for result in results) > 1  # the batching window gathered a batch
    deadline = time.monotonic() + 10
    while _count(sqs, source_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _count(sqs, source_url) == 0  # a batch that succeeded is deleted
    listed = lambda_client.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    assert [item["UUID"] for item in listed] == [created["UUID"]]
    with pytest.raises(ClientError) as duplicate:
        lambda_client.create_event_source_mapping(EventSourceArn=source_arn, FunctionName=function)
    assert duplicate.value.response["Error"]["Code"] == "ResourceConflictException"
    deleted = lambda_client.delete_event_source_mapping(UUID=created["UUID"])
    assert deleted["State"] == "Deleting"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_event_source_mapping(UUID=created["UUID"])


def test_partial_failures_filters_and_dead_letters(
    lambda_client: Any, deploy: Callable[..., str], sqs: Any, role: str
) -> None:
    dead_url, dead_arn = _queue(sqs)
    source_url, source_arn = _queue(
        sqs,
        VisibilityTimeout="12",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 1}),
    )
    results_url, _ = _queue(sqs)
    function = deploy(
        {"app.py": RECORDER}, Role=role, Timeout=10, Environment={"Variables": {"RESULTS": results_url}}
    )
    mapping = lambda_client.create_event_source_mapping(
        EventSourceArn=source_arn,
        FunctionName=function,
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"kind": ["order"]}})}]},
    )
    assert mapping["FilterCriteria"]["Filters"][0]["Pattern"] == json.dumps({"body": {"kind": ["order"]}})
    _wait_state(lambda_client, mapping["UUID"], "Enabled")
    sqs.send_message_batch(
        QueueUrl=source_url,
        Entries=[
            {"Id": "ok", "MessageBody": json.dumps({"kind": "order", "n": 1})},
            {"Id": "bad", "MessageBody": json.dumps({"kind": "order", "fail": True})},
            {"Id": "skipped", "MessageBody": json.dumps({"kind": "refund"})},
            {"Id": "text", "MessageBody": "not json at all"},
        ],
    )
    results = _results(sqs, results_url, 1)
    assert [json.loads(result["record"]["body"]) for result in results] == [{"kind": "order", "n": 1}]
    # The failed message comes back after its visibility timeout and, past maxReceiveCount, moves on.
    (dead,) = [json.loads(m["Body"]) for m in _dead_letters(sqs, dead_url, 1, timeout=40)]
    assert dead == {"kind": "order", "fail": True}
    assert _count(sqs, source_url) == 0  # filtered-out messages were deleted without a run
    lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])


def _dead_letters(sqs: Any, url: str, count: int, timeout: float) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        found.extend(
            sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        )
    assert len(found) >= count
    return found


def test_states_and_disabling(lambda_client: Any, deploy: Callable[..., str], sqs: Any, role: str) -> None:
    source_url, source_arn = _queue(sqs)
    results_url, _ = _queue(sqs)
    function = deploy(
        {"app.py": RECORDER}, Role=role, Timeout=10, Environment={"Variables": {"RESULTS": results_url}}
    )
    mapping = lambda_client.create_event_source_mapping(
        EventSourceArn=source_arn, FunctionName=function, Enabled=False
    )
    _wait_state(lambda_client, mapping["UUID"], "Disabled")
    sqs.send_message(QueueUrl=source_url, MessageBody="waits")
    time.sleep(1.5)
    assert _count(sqs, source_url) == 1  # nothing polls a disabled mapping
    enabling = lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    assert enabling["State"] == "Enabling"
    _wait_state(lambda_client, mapping["UUID"], "Enabled")
    assert _results(sqs, results_url, 1)[0]["record"]["body"] == "waits"
    updating = lambda_client.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=5)
    assert (updating["State"], updating["BatchSize"]) == ("Updating", 5)
    _wait_state(lambda_client, mapping["UUID"], "Enabled")
    disabling = lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    assert disabling["State"] == "Disabling"
    _wait_state(lambda_client, mapping["UUID"], "Disabled")
    lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])


def test_lambdas_refusals(
    lambda_client: Any, deploy: Callable[..., str], sqs: Any, role: str, server: RunningServer
) -> None:
    _, source_arn = _queue(sqs, VisibilityTimeout="5")
    function = deploy({"app.py": RECORDER}, Role=role, Timeout=10)

    def refusal(**params: Any) -> tuple[str, str]:
        with pytest.raises(ClientError) as failure:
            lambda_client.create_event_source_mapping(**params)
        error = failure.value.response["Error"]
        return str(error["Code"]), str(error["Message"])

    assert refusal(EventSourceArn=source_arn, FunctionName=function) == (
        "InvalidParameterValueException",
        "Queue visibility timeout: 5 seconds is less than Function timeout: 10 seconds",
    )
    assert refusal(EventSourceArn="arn:aws:sqs:us-east-1:000000000000:no-such-queue", FunctionName=function)[
        1
    ] == (
        "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
        "SQS Error Message: The specified queue does not exist for this wsdl version."
    )
    _, roomy_arn = _queue(sqs, VisibilityTimeout="60")
    assert refusal(EventSourceArn=roomy_arn, FunctionName=function, BatchSize=100)[1] == (
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
    )
    assert (
        refusal(EventSourceArn=roomy_arn, FunctionName="no-such-function")[0] == "ResourceNotFoundException"
    )
    iam = server.client("iam")
    try:
        bare = iam.create_role(RoleName="no-sqs-rights", AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)[
            "Role"
        ]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        bare = iam.get_role(RoleName="no-sqs-rights")["Role"]["Arn"]
    weak = deploy({"app.py": RECORDER}, Role=bare, Timeout=3)
    assert refusal(EventSourceArn=roomy_arn, FunctionName=weak) == (
        "InvalidParameterValueException",
        "The provided execution role does not have permissions to call ReceiveMessage on SQS",
    )
    assert refusal(
        EventSourceArn=roomy_arn,
        FunctionName=function,
        FilterCriteria={"Filters": [{"Pattern": "{not json"}]},
    )[1].startswith("Invalid filter pattern definition.")


def test_fifo_order_within_groups(
    lambda_client: Any, deploy: Callable[..., str], sqs: Any, role: str
) -> None:
    source_url, source_arn = _queue(
        sqs, name=f"esm-{uuid.uuid4().hex[:10]}.fifo", FifoQueue="true", ContentBasedDeduplication="true"
    )
    results_url, _ = _queue(sqs)
    function = deploy(
        {"app.py": RECORDER}, Role=role, Timeout=10, Environment={"Variables": {"RESULTS": results_url}}
    )
    for n in range(12):
        sqs.send_message(QueueUrl=source_url, MessageBody=f"{'ab'[n % 2]}-{n}", MessageGroupId="ab"[n % 2])
    mapping = lambda_client.create_event_source_mapping(
        EventSourceArn=source_arn, FunctionName=function, BatchSize=3
    )
    results = sorted(_results(sqs, results_url, 12), key=lambda result: result["at"])
    for group in "ab":
        bodies = [
            r["record"]["body"] for r in results if r["record"]["attributes"]["MessageGroupId"] == group
        ]
        assert bodies == [f"{group}-{n}" for n in range(12) if "ab"[n % 2] == group]
    lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])


def test_pollers_scale_out_with_the_backlog(
    lambda_client: Any, deploy: Callable[..., str], sqs: Any, role: str
) -> None:
    source_url, source_arn = _queue(sqs)
    results_url, _ = _queue(sqs)
    function = deploy(
        {"app.py": RECORDER}, Role=role, Timeout=10, Environment={"Variables": {"RESULTS": results_url}}
    )
    for chunk in range(3):
        sqs.send_message_batch(
            QueueUrl=source_url,
            Entries=[
                {"Id": str(n), "MessageBody": json.dumps({"sleep": 0.5, "n": chunk * 10 + n})}
                for n in range(10)
            ],
        )
    started = time.monotonic()
    mapping = lambda_client.create_event_source_mapping(
        EventSourceArn=source_arn,
        FunctionName=function,
        BatchSize=1,
        ScalingConfig={"MaximumConcurrency": 10},
    )
    _results(sqs, results_url, 30, timeout=60)
    elapsed = time.monotonic() - started
    # One poller would take 30 × 0.5 s = 15 s; several batches ran at once.
    assert elapsed < 11, elapsed
    lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])


LOOPER = """\
import json
import os

import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    for record in event["Records"]:
        sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody="ran")
        sqs.send_message(QueueUrl=os.environ["SOURCE"], MessageBody=record["body"] + "+")
"""


def test_a_function_feeding_its_own_queue_is_stopped(
    lambda_client: Any, deploy: Callable[..., str], sqs: Any, role: str
) -> None:
    """A loop through SQS: each run sends the next message. Lambda's recursive loop detection stops
    it at 16 runs, and the message that would have started the 17th goes to the dead-letter queue."""
    dead_url, dead_arn = _queue(sqs)
    source_url, source_arn = _queue(
        sqs,
        VisibilityTimeout="30",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 3}),
    )
    results_url, _ = _queue(sqs)
    function = deploy(
        {"app.py": LOOPER},
        Role=role,
        Timeout=10,
        Environment={"Variables": {"RESULTS": results_url, "SOURCE": source_url}},
    )
    mapping = lambda_client.create_event_source_mapping(
        EventSourceArn=source_arn, FunctionName=function, BatchSize=1
    )
    sqs.send_message(QueueUrl=source_url, MessageBody="seed")
    (stopped,) = _dead_letters(sqs, dead_url, 1, timeout=60)
    assert stopped["Body"] == "seed" + "+" * 16
    runs = 0
    while True:
        batch = sqs.receive_message(QueueUrl=results_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not batch:
            break
        runs += len(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=results_url, ReceiptHandle=message["ReceiptHandle"])
    assert runs == 16
    assert _count(sqs, source_url) == 0
    lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])
