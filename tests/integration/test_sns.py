"""SNS against a real server, through boto3 (and the aws CLI once): topics and subscriptions answer
as SNS does; Publish fans out to functions, queues and HTTP endpoints (the confirmation handshake,
signed messages a subscriber can verify) with filter policies on attributes and on the body; raw
delivery; FIFO topics; failed deliveries reach the subscription's dead-letter queue; and topics
serve as functions' failure destinations, bucket notification targets and EventBridge targets."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.support.cli import run_aws
from tests.support.lambda_calls import create_function
from tests.support.queues import queue_allowing, take_messages
from tests.support.server import LAMBDA_TRUST_POLICY, RunningServer, running_server

ACCOUNT = "000000000000"
REGION = "us-east-1"
RECORDER = {
    "app.py": "import json\n\ndef handler(event, context):\n    print('SNS-EVENT ' + json.dumps(event))\n"
}
FAILING = {"app.py": "def handler(event, context):\n    raise ValueError('boom')\n"}


@pytest.fixture(scope="module")
def sns(server: RunningServer) -> Any:
    return server.client("sns")


@pytest.fixture(scope="module")
def sqs(server: RunningServer) -> Any:
    return server.client("sqs")


def new_topic(sns: Any, **options: Any) -> str:
    return str(sns.create_topic(Name=f"t-{uuid.uuid4().hex[:10]}", **options)["TopicArn"])


def queue_for(sqs: Any, principal: str = "sns.amazonaws.com", fifo: bool = False) -> tuple[str, str]:
    """A queue whose policy lets `principal` send to it: (URL, ARN)."""
    return queue_allowing(sqs, principal, fifo=fifo)


def messages(sqs: Any, url: str, expected: int, timeout: float = 10) -> list[dict[str, Any]]:
    return take_messages(sqs, url, expected, timeout)


def error(call: Any, **params: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def verify_signature(document: dict[str, Any]) -> None:
    """As a subscriber does: fetch SigningCertURL, check Signature over SNS's signed string."""
    with urllib.request.urlopen(document["SigningCertURL"], timeout=5) as response:
        certificate = x509.load_pem_x509_certificate(response.read())
    if document["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    signed = "".join(f"{name}\n{document[name]}\n" for name in names if name in document)
    certificate.public_key().verify(  # type: ignore[union-attr,call-arg]
        base64.b64decode(document["Signature"]),
        signed.encode(),
        padding.PKCS1v15(),  # type: ignore[arg-type]
        hashes.SHA1(),  # type: ignore[arg-type]
    )


class Endpoint:
    """An HTTP subscriber on this machine: records what SNS POSTs (headers, JSON body)."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(
                    ({name.lower(): value for name, value in self.headers.items()}, json.loads(body))
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        http.server.HTTPServer.allow_reuse_address = True
        self._server = http.server.HTTPServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10) -> list[tuple[dict[str, str], dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    running = Endpoint()
    yield running
    running.close()


def test_topics_and_subscriptions_answer_as_sns_does(sns: Any, sqs: Any) -> None:
    name = f"orders-{uuid.uuid4().hex[:8]}"
    arn = sns.create_topic(
        Name=name, Attributes={"DisplayName": "Orders"}, Tags=[{"Key": "team", "Value": "shop"}]
    )["TopicArn"]
    assert arn == f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"
    assert sns.create_topic(Name=name, Attributes={"DisplayName": "Orders"})["TopicArn"] == arn  # idempotent
    code, message, status = error(sns.create_topic, Name=name, Attributes={"DisplayName": "Other"})
    assert (code, status) == (
        "InvalidParameter",
        400,
    ) and "already exists with different attributes" in message
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert {
        key: attributes[key]
        for key in ("TopicArn", "Owner", "DisplayName", "SubscriptionsConfirmed", "SubscriptionsPending")
    } == {
        "TopicArn": arn,
        "Owner": ACCOUNT,
        "DisplayName": "Orders",
        "SubscriptionsConfirmed": "0",
        "SubscriptionsPending": "0",
    }
    assert json.loads(attributes["Policy"])["Statement"][0]["Resource"] == arn
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Renamed")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Renamed"
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "shop"}]
    assert arn in [topic["TopicArn"] for topic in sns.list_topics()["Topics"]]

    _, queue_arn = queue_for(sqs)
    subscription = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    assert subscription.startswith(arn + ":")
    assert sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"] == subscription
    described = sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]
    assert {
        key: described[key]
        for key in ("TopicArn", "Protocol", "Endpoint", "PendingConfirmation", "RawMessageDelivery")
    } == {
        "TopicArn": arn,
        "Protocol": "sqs",
        "Endpoint": queue_arn,
        "PendingConfirmation": "false",
        "RawMessageDelivery": "false",
    }
    sns.set_subscription_attributes(
        SubscriptionArn=subscription, AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    assert (
        sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]["RawMessageDelivery"]
        == "true"
    )
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]] == [
        subscription
    ]
    assert (
        error(
            sns.set_subscription_attributes,
            SubscriptionArn=subscription,
            AttributeName="FilterPolicy",
            AttributeValue="{",
        )[0]
        == "InvalidParameter"
    )
    assert error(sns.subscribe, TopicArn=arn, Protocol="carrier-pigeon", Endpoint="x")[1] == (
        "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon"
    )
    assert error(sns.subscribe, TopicArn=arn, Protocol="sqs", Endpoint="not-an-arn")[:2] == (
        "InvalidParameter",
        "Invalid parameter: Endpoint",
    )

    assert error(sns.publish, TopicArn=arn, Message="") == ("InvalidParameter", "Empty message", 400)
    assert error(sns.publish, TopicArn=arn, Message="x" * 262_145)[1] == "Invalid parameter: Message too long"
    assert error(sns.publish, TopicArn=arn, Message="{}", MessageStructure="json")[1] == (
        "Invalid parameter: Message Structure - No default entry in JSON message body"
    )
    assert error(sns.get_topic_attributes, TopicArn=arn + "-gone") == (
        "NotFound",
        "Topic does not exist",
        404,
    )
    assert error(sns.get_subscription_attributes, SubscriptionArn=f"{arn}:{uuid.uuid4()}") == (
        "NotFound",
        "Subscription does not exist",
        404,
    )
    sns.unsubscribe(SubscriptionArn=subscription)
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # idempotent
    assert error(sns.get_topic_attributes, TopicArn=arn)[0] == "NotFound"


def test_publish_fans_out_to_queues_through_filter_policies(sns: Any, sqs: Any) -> None:
    topic = new_topic(sns)
    everything_url, everything = queue_for(sqs)
    big_url, big = queue_for(sqs)
    body_url, body_scope = queue_for(sqs)
    raw_url, raw = queue_for(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=everything)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=big,
        Attributes={"FilterPolicy": json.dumps({"total": [{"numeric": [">=", 100]}], "kind": ["order"]})},
    )
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=body_scope,
        Attributes={
            "FilterPolicy": json.dumps({"customer": {"tier": ["gold"]}}),
            "FilterPolicyScope": "MessageBody",
        },
    )
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw, Attributes={"RawMessageDelivery": "true"})

    def order(total: int, tier: str) -> Any:
        return sns.publish(
            TopicArn=topic,
            Subject="order",
            Message=json.dumps({"customer": {"tier": tier}, "total": total}),
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": "order"},
                "total": {"DataType": "Number", "StringValue": str(total)},
            },
        )["MessageId"]

    small_id, big_id = order(20, "gold"), order(250, "silver")
    everything_messages = messages(sqs, everything_url, 2)
    documents = sorted(
        (json.loads(m["Body"]) for m in everything_messages), key=lambda d: json.loads(d["Message"])["total"]
    )
    assert [document["MessageId"] for document in documents] == [small_id, big_id]
    first = documents[0]
    assert {key: first[key] for key in ("Type", "TopicArn", "Subject", "SignatureVersion")} == {
        "Type": "Notification",
        "TopicArn": topic,
        "Subject": "order",
        "SignatureVersion": "1",
    }
    assert first["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "order"},
        "total": {"Type": "Number", "Value": "20"},
    }
    assert first["Timestamp"].endswith("Z") and len(first["Timestamp"]) == 24
    verify_signature(first)
    assert [json.loads(json.loads(m["Body"])["Message"])["total"] for m in messages(sqs, big_url, 1)] == [250]
    assert [
        json.loads(json.loads(m["Body"])["Message"])["customer"]["tier"] for m in messages(sqs, body_url, 1)
    ] == ["gold"]
    raw_messages = sorted(messages(sqs, raw_url, 2), key=lambda m: json.loads(m["Body"])["total"])
    assert json.loads(raw_messages[0]["Body"]) == {"customer": {"tier": "gold"}, "total": 20}
    assert raw_messages[0]["MessageAttributes"]["kind"] == {"StringValue": "order", "DataType": "String"}

    # Per-protocol messages with MessageStructure=json.
    sns.publish(
        TopicArn=topic, MessageStructure="json", Message=json.dumps({"default": "plain", "sqs": "for queues"})
    )
    assert json.loads(messages(sqs, everything_url, 1)[0]["Body"])["Message"] == "for queues"
    messages(sqs, raw_url, 1)


def test_a_function_subscriber_gets_the_sns_event_record(server: RunningServer, sns: Any) -> None:
    lambda_client, logs = server.client("lambda"), server.client("logs")
    function = f"sns-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, function, RECORDER)
    function_arn = lambda_client.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    topic = new_topic(sns)
    lambda_client.add_permission(
        FunctionName=function,
        StatementId="sns",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        SourceArn=topic,
    )
    subscription = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn)["SubscriptionArn"]
    message_id = sns.publish(
        TopicArn=topic,
        Message="hello",
        MessageAttributes={"lang": {"DataType": "String", "StringValue": "en"}},
    )["MessageId"]

    def received() -> list[dict[str, Any]]:
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            found = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern="SNS-EVENT")[
                "events"
            ]
            return [json.loads(event["message"].split("SNS-EVENT ", 1)[1]) for event in found]
        return []

    deadline = time.monotonic() + 30
    while not received() and time.monotonic() < deadline:
        time.sleep(0.2)
    [event] = received()
    [record] = event["Records"]
    assert (record["EventSource"], record["EventVersion"], record["EventSubscriptionArn"]) == (
        "aws:sns",
        "1.0",
        subscription,
    )
    sns_part = record["Sns"]
    assert {
        key: sns_part[key]
        for key in ("Type", "MessageId", "TopicArn", "Subject", "Message", "SignatureVersion")
    } == {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic,
        "Subject": None,
        "Message": "hello",
        "SignatureVersion": "1",
    }
    assert sns_part["MessageAttributes"] == {"lang": {"Type": "String", "Value": "en"}}
    assert {"SigningCertUrl", "UnsubscribeUrl", "Signature", "Timestamp"} <= set(sns_part)


def test_an_http_endpoint_confirms_and_receives_signed_notifications(sns: Any, endpoint: Endpoint) -> None:
    topic = new_topic(sns)
    assert (
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)["SubscriptionArn"]
        == "pending confirmation"
    )
    [(headers, confirmation)] = endpoint.wait_for(1)
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert confirmation["Type"] == "SubscriptionConfirmation" and confirmation["TopicArn"] == topic
    verify_signature(confirmation)
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsPending"] == "1"
    sns.publish(TopicArn=topic, Message="before")  # not delivered: pending
    with urllib.request.urlopen(confirmation["SubscribeURL"], timeout=5) as response:  # unsigned, as on AWS
        assert b"<SubscriptionArn>" in response.read()
    sns.publish(TopicArn=topic, Message="after", Subject="s")
    received = endpoint.wait_for(2)
    headers, notification = received[1]
    assert (headers["x-amz-sns-message-type"], headers["x-amz-sns-topic-arn"]) == ("Notification", topic)
    assert headers["x-amz-sns-subscription-arn"].startswith(topic + ":")
    assert (notification["Message"], notification["Subject"]) == ("after", "s")
    verify_signature(notification)
    time.sleep(0.5)
    assert len(endpoint.received) == 2
    # The UnsubscribeURL works unsigned too.
    with urllib.request.urlopen(notification["UnsubscribeURL"], timeout=5):
        pass
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_authenticate_on_unsubscribe_keeps_the_link_from_unsubscribing(sns: Any, endpoint: Endpoint) -> None:
    topic = new_topic(sns)
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
    [(_, confirmation)] = endpoint.wait_for(1)
    arn = sns.confirm_subscription(
        TopicArn=topic, Token=confirmation["Token"], AuthenticateOnUnsubscribe="true"
    )["SubscriptionArn"]
    assert (
        sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["ConfirmationWasAuthenticated"]
        == "true"
    )
    sns.publish(TopicArn=topic, Message="m")
    [_, (_, notification)] = endpoint.wait_for(2)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(notification["UnsubscribeURL"], timeout=5)
    assert refused.value.code == 403
    refused.value.close()
    assert [
        s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    ] == [arn]
    sns.unsubscribe(SubscriptionArn=arn)  # signed: allowed


def test_a_failed_delivery_reaches_the_dead_letter_queue(sns: Any, sqs: Any) -> None:
    topic = new_topic(sns)
    _, refusing = queue_for(sqs, principal="s3.amazonaws.com")  # its policy does not let SNS in
    dead_url, dead = queue_for(sqs)
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=refusing,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dead})},
    )
    message_id = sns.publish(TopicArn=topic, Message="undeliverable")["MessageId"]
    [dead_letter] = messages(sqs, dead_url, 1, timeout=15)  # after 1 + 2 + 4 s of retries
    assert json.loads(dead_letter["Body"])["MessageId"] == message_id


def test_fifo_topics_keep_order_and_deduplicate(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(
        Name=f"f-{uuid.uuid4().hex[:8]}.fifo",
        Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"},
    )["TopicArn"]
    url, arn = queue_for(sqs, fifo=True)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    assert error(sns.publish, TopicArn=topic, Message="no group")[1] == (
        "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
    )
    first = sns.publish(TopicArn=topic, Message="one", MessageGroupId="g")
    duplicate = sns.publish(TopicArn=topic, Message="one", MessageGroupId="g")
    assert duplicate["MessageId"] == first["MessageId"] and "SequenceNumber" in first
    batch = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "a", "Message": "two", "MessageGroupId": "g"},
            {"Id": "b", "Message": "three", "MessageGroupId": "g"},
            {"Id": "c", "Message": "four"},
        ],
    )
    assert [entry["Id"] for entry in batch["Successful"]] == ["a", "b"]
    assert [(entry["Id"], entry["Code"]) for entry in batch["Failed"]] == [("c", "InvalidParameter")]
    assert [m["Body"] for m in messages(sqs, url, 3)] == ["one", "two", "three"]


def test_topics_as_failure_destination_bucket_target_and_rule_target(
    server: RunningServer, sns: Any, sqs: Any
) -> None:
    topic = new_topic(sns)
    url, arn = queue_for(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["s3.amazonaws.com", "events.amazonaws.com"]},
                "Action": "sns:Publish",
                "Resource": topic,
            }
        ],
    }
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))

    # A function's OnFailure destination, published as its execution role.
    iam, lambda_client = server.client("iam"), server.client("lambda")
    role_name = f"publisher-{uuid.uuid4().hex[:6]}"
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="publish",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}],
            }
        ),
    )
    function = f"fails-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, function, FAILING, Role=role)
    lambda_client.put_function_event_invoke_config(
        FunctionName=function, MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": topic}}
    )
    lambda_client.invoke(FunctionName=function, InvocationType="Event", Payload=b'{"n": 1}')
    [record] = messages(sqs, url, 1, timeout=30)
    failure = json.loads(record["Body"])
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["requestPayload"] == {"n": 1}

    # A function's dead-letter topic: the event itself, with Lambda's attributes.
    dead = f"dead-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, dead, FAILING, Role=role, DeadLetterConfig={"TargetArn": topic})
    lambda_client.put_function_event_invoke_config(FunctionName=dead, MaximumRetryAttempts=0)
    lambda_client.invoke(FunctionName=dead, InvocationType="Event", Payload=b'{"n": 2}')
    [dead_letter] = messages(sqs, url, 1, timeout=30)
    assert json.loads(dead_letter["Body"]) == {"n": 2}
    assert dead_letter["MessageAttributes"]["ErrorCode"]["StringValue"] == "200"
    assert "boom" in dead_letter["MessageAttributes"]["ErrorMessage"]["StringValue"]

    # A bucket notification: S3's test event first, then the object's.
    s3 = server.client("s3")
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket=bucket, Key="photo.jpg", Body=b"x")
    bodies = [json.loads(m["Body"]) for m in messages(sqs, url, 2)]
    assert bodies[0]["Event"] == "s3:TestEvent"
    assert bodies[1]["Records"][0]["s3"]["object"]["key"] == "photo.jpg"

    # An EventBridge rule's target.
    events = server.client("events")
    rule = f"to-topic-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["shop"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "topic", "Arn": topic}])
    events.put_events(Entries=[{"Source": "shop", "DetailType": "order", "Detail": json.dumps({"id": 7})}])
    [forwarded] = messages(sqs, url, 1)
    assert json.loads(forwarded["Body"])["detail"] == {"id": 7}
    events.remove_targets(Rule=rule, Ids=["topic"])
    events.delete_rule(Name=rule)


def test_a_topic_policy_refuses_a_service_it_does_not_name(server: RunningServer, sns: Any) -> None:
    s3 = server.client("s3")
    topic = new_topic(sns)
    bucket = f"b-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
            },
        )
    assert refused.value.response["Error"]["Code"] == "InvalidArgument"


def test_the_aws_cli_publishes(server: RunningServer, sns: Any, sqs: Any) -> None:
    topic = new_topic(sns)
    url, arn = queue_for(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    published = run_aws(server, "sns", "publish", "--topic-arn", topic, "--message", "from the cli")
    assert "MessageId" in published
    assert [m["Body"] for m in messages(sqs, url, 1)] == ["from the cli"]


def test_a_delivery_survives_a_kill_of_the_server(tmp_path: Path) -> None:
    """Published while the endpoint is down, the server SIGKILLed during the retries: the next
    start delivers it."""
    data = tmp_path / "data"
    endpoint = Endpoint()
    port = endpoint.port
    with running_server(data) as first:
        sns = first.client("sns")
        topic = new_topic(sns)
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
        [(_, confirmation)] = endpoint.wait_for(1)
        with urllib.request.urlopen(confirmation["SubscribeURL"], timeout=5):
            pass
        endpoint.close()  # the subscriber goes down
        message_id = sns.publish(TopicArn=topic, Message="kept")["MessageId"]
        first.process.kill()
        first.process.wait()
    endpoint = Endpoint(port)  # back up, on the same address
    try:
        with running_server(data):
            received = endpoint.wait_for(1, timeout=20)
        assert [(body["MessageId"], body["Message"]) for _, body in received] == [(message_id, "kept")]
    finally:
        endpoint.close()


def test_a_hanging_subscriber_does_not_hold_up_other_work(server: RunningServer, sns: Any) -> None:
    """HTTP posts run on threads of their own: twelve posts stuck on a subscriber that never answers
    leave uploads (whose hashing shares the server's default threads) unaffected."""
    release = threading.Event()
    answered: list[dict[str, Any]] = []

    class Hanging(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if body["Type"] == "SubscriptionConfirmation":
                answered.append(body)
                self.send_response(200)
                self.end_headers()
                return
            release.wait(30)  # a notification: never answered while the test runs

        def log_message(self, *args: Any) -> None:
            pass

    hanging = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    threading.Thread(target=hanging.serve_forever, daemon=True).start()
    try:
        topic = new_topic(sns)
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"http://127.0.0.1:{hanging.server_port}/")
        deadline = time.monotonic() + 10
        while not answered and time.monotonic() < deadline:
            time.sleep(0.05)
        with urllib.request.urlopen(answered[0]["SubscribeURL"], timeout=5):
            pass
        for number in range(12):
            sns.publish(TopicArn=topic, Message=f"stuck {number}")
        time.sleep(0.5)
        s3 = server.client("s3")
        bucket = f"b-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=bucket)
        # Not a timing: before, this upload waited behind the stuck posts for about two minutes.
        upload = threading.Thread(
            target=s3.put_object, kwargs={"Bucket": bucket, "Key": "k", "Body": b"x" * (16 << 20)}
        )
        upload.start()
        upload.join(timeout=60)
        assert not upload.is_alive(), "the upload waited behind the stuck deliveries"
        assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 16 << 20
        s3.delete_object(Bucket=bucket, Key="k")
        s3.delete_bucket(Bucket=bucket)
    finally:
        release.set()
        hanging.shutdown()
        hanging.server_close()
