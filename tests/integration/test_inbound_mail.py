"""Inbound mail against a real server with `--smtp-port`: SES receipt rule sets through boto3, and
mail sent with smtplib running them: the classic "process inbound email" flow (the message stored
in a bucket, a function reading it back), RequestResponse dispositions stopping the rule set, the
SNS action with the content, and recipients no rule takes refused at RCPT."""

from __future__ import annotations

import json
import smtplib
import socket
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.lambda_calls import create_function, printed_events
from tests.support.queues import queue_allowing, take_messages
from tests.support.server import LAMBDA_TRUST_POLICY, RunningServer, running_server

ACCOUNT = "000000000000"
READER = """\
import email
import json

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    mail = event["Records"][0]["ses"]["mail"]
    stored = s3.get_object(Bucket=BUCKET, Key="in/" + mail["messageId"])["Body"].read()
    message = email.message_from_bytes(stored)
    print("READ " + json.dumps({"subject": message["Subject"], "body": message.get_payload().strip(), "event": event}))
"""
STOPPER = (
    "import json\n\ndef handler(event, context):\n"
    "    print('STOPPER ' + json.dumps(event['Records'][0]['ses']['receipt']['recipients']))\n"
    "    return {'disposition': 'STOP_RULE_SET'}\n"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, int]]:
    port = free_port()
    with running_server(tmp_path_factory.mktemp("mail") / "data", "--smtp-port", str(port)) as running:
        yield running, port


@pytest.fixture(scope="module")
def server(mail_server: tuple[RunningServer, int]) -> RunningServer:
    return mail_server[0]


@pytest.fixture(scope="module")
def smtp_port(mail_server: tuple[RunningServer, int]) -> int:
    return mail_server[1]


@pytest.fixture(scope="module")
def ses(server: RunningServer) -> Any:
    return server.client("ses")


def send(
    port: int, sender: str, recipients: list[str], subject: str, body: str
) -> dict[str, tuple[int, bytes]]:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(recipients), subject
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        return smtp.send_message(message, sender, recipients)


def error(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def allow_ses(lambda_client: Any, function: str) -> str:
    lambda_client.add_permission(
        FunctionName=function,
        StatementId="ses",
        Action="lambda:InvokeFunction",
        Principal="ses.amazonaws.com",
        SourceAccount=ACCOUNT,
    )
    return str(lambda_client.get_function(FunctionName=function)["Configuration"]["FunctionArn"])


def test_rule_sets_answer_as_ses_does(ses: Any) -> None:
    name = f"set-{uuid.uuid4().hex[:8]}"
    ses.create_receipt_rule_set(RuleSetName=name)
    assert error(ses.create_receipt_rule_set, RuleSetName=name) == (
        "AlreadyExists",
        f"Rule set {name} already exists.",
    )
    assert error(ses.describe_receipt_rule_set, RuleSetName="absent") == (
        "RuleSetDoesNotExist",
        "Rule set does not exist: absent",
    )
    for rule in ("first", "second", "third"):
        after = {"After": "first"} if rule == "third" else {}
        ses.create_receipt_rule(
            RuleSetName=name, Rule={"Name": rule, "Enabled": True, "Recipients": ["a@example.com"]}, **after
        )
    # CreateReceiptRule puts a rule first, or after the one named in After.
    assert [rule["Name"] for rule in ses.describe_receipt_rule_set(RuleSetName=name)["Rules"]] == [
        "second",
        "first",
        "third",
    ]
    ses.set_receipt_rule_position(RuleSetName=name, RuleName="second", After="third")
    assert [rule["Name"] for rule in ses.describe_receipt_rule_set(RuleSetName=name)["Rules"]] == [
        "first",
        "third",
        "second",
    ]
    described = ses.describe_receipt_rule(RuleSetName=name, RuleName="first")["Rule"]
    assert described == {
        "Name": "first",
        "Enabled": True,
        "TlsPolicy": "Optional",
        "Recipients": ["a@example.com"],
        "Actions": [],
        "ScanEnabled": False,
    }
    ses.update_receipt_rule(RuleSetName=name, Rule={"Name": "first", "Enabled": False})
    assert ses.describe_receipt_rule(RuleSetName=name, RuleName="first")["Rule"]["Enabled"] is False
    assert error(ses.describe_receipt_rule, RuleSetName=name, RuleName="absent") == (
        "RuleDoesNotExist",
        "Rule does not exist: absent",
    )
    assert (
        error(ses.create_receipt_rule, RuleSetName=name, Rule={"Name": "-bad-"})[0] == "InvalidParameterValue"
    )
    assert error(
        ses.create_receipt_rule,
        RuleSetName=name,
        Rule={
            "Name": "fn",
            "Actions": [
                {"LambdaAction": {"FunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:absent"}}
            ],
        },
    ) == (
        "InvalidLambdaFunction",
        f"Could not invoke Lambda function: arn:aws:lambda:us-east-1:{ACCOUNT}:function:absent",
    )
    ses.set_active_receipt_rule_set(RuleSetName=name)
    assert ses.describe_active_receipt_rule_set()["Metadata"]["Name"] == name
    assert error(ses.delete_receipt_rule_set, RuleSetName=name) == (
        "CannotDelete",
        f"Cannot delete active rule set: {name}",
    )
    ses.set_active_receipt_rule_set()  # none active
    assert "Metadata" not in ses.describe_active_receipt_rule_set()
    ses.delete_receipt_rule(RuleSetName=name, RuleName="third")
    assert name in [entry["Name"] for entry in ses.list_receipt_rule_sets()["RuleSets"]]
    ses.delete_receipt_rule_set(RuleSetName=name)


def test_inbound_mail_is_stored_and_processed_by_a_function(
    server: RunningServer, ses: Any, smtp_port: int
) -> None:
    """The classic flow: an S3 action keeps the raw message, a Lambda action reads it back."""
    s3, iam, lambda_client, logs = (server.client(name) for name in ("s3", "iam", "lambda", "logs"))
    bucket = f"mail-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "ses.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    role_name = f"mail-reader-{uuid.uuid4().hex[:6]}"
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)["Role"]["Arn"]
    iam.attach_role_policy(RoleName=role_name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    function = f"reader-{uuid.uuid4().hex[:8]}"
    create_function(
        lambda_client, function, {"app.py": READER.replace("BUCKET", repr(bucket))}, Role=role, Timeout=30
    )
    function_arn = allow_ses(lambda_client, function)

    rule_set = f"inbound-{uuid.uuid4().hex[:8]}"
    ses.create_receipt_rule_set(RuleSetName=rule_set)
    ses.create_receipt_rule(
        RuleSetName=rule_set,
        Rule={
            "Name": "support",
            "Enabled": True,
            "Recipients": ["support@example.com", "sales.example.com"],
            "Actions": [
                {"S3Action": {"BucketName": bucket, "ObjectKeyPrefix": "in/"}},
                {"LambdaAction": {"FunctionArn": function_arn, "InvocationType": "Event"}},
            ],
        },
    )
    ses.set_active_receipt_rule_set(RuleSetName=rule_set)
    try:
        refused = send(
            smtp_port,
            "alice@customer.org",
            ["support@example.com", "nobody@example.com"],
            "Help",
            "The widget broke.",
        )
        assert refused == {
            "nobody@example.com": (550, b"5.1.1 Requested action not taken: mailbox unavailable")
        }
        [printed] = printed_events(logs, function, "READ", 1)
        assert (printed["subject"], printed["body"]) == ("Help", "The widget broke.")
        [record] = printed["event"]["Records"]
        assert (record["eventSource"], record["eventVersion"]) == ("aws:ses", "1.0")
        mail, receipt = record["ses"]["mail"], record["ses"]["receipt"]
        assert mail["source"] == "alice@customer.org"
        assert mail["destination"] == ["support@example.com"]
        assert mail["commonHeaders"]["subject"] == "Help" and mail["commonHeaders"]["from"] == [
            "alice@customer.org"
        ]
        assert receipt["recipients"] == ["support@example.com"]
        assert receipt["action"] == {"type": "Lambda", "functionArn": function_arn, "invocationType": "Event"}
        assert receipt["spamVerdict"] == {"status": "DISABLED"}
        keys = [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys == [f"in/{mail['messageId']}"]
        # A domain recipient takes every address at it.
        assert send(smtp_port, "bob@customer.org", ["anyone@sales.example.com"], "Quote", "How much?") == {}
    finally:
        ses.set_active_receipt_rule_set()


def test_a_request_response_function_can_stop_the_rule_set(
    server: RunningServer, ses: Any, smtp_port: int
) -> None:
    lambda_client, logs, sns, sqs = (server.client(name) for name in ("lambda", "logs", "sns", "sqs"))
    stopper = f"stopper-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, stopper, {"app.py": STOPPER})
    stopper_arn = allow_ses(lambda_client, stopper)
    topic = sns.create_topic(Name=f"mail-{uuid.uuid4().hex[:8]}")["TopicArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ses.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic,
            }
        ],
    }
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))
    url, queue = queue_allowing(sqs, "sns.amazonaws.com")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue, Attributes={"RawMessageDelivery": "true"})

    rule_set = f"stops-{uuid.uuid4().hex[:8]}"
    ses.create_receipt_rule_set(RuleSetName=rule_set)
    # Created "first" each time: the order ends up gate, then publish.
    ses.create_receipt_rule(
        RuleSetName=rule_set,
        Rule={
            "Name": "publish",
            "Enabled": True,
            "Actions": [{"SNSAction": {"TopicArn": topic, "Encoding": "UTF-8"}}],
        },
    )
    ses.create_receipt_rule(
        RuleSetName=rule_set,
        Rule={
            "Name": "gate",
            "Enabled": True,
            "Recipients": ["blocked@example.com"],
            "Actions": [{"LambdaAction": {"FunctionArn": stopper_arn, "InvocationType": "RequestResponse"}}],
        },
    )
    ses.set_active_receipt_rule_set(RuleSetName=rule_set)
    try:
        send(smtp_port, "x@customer.org", ["blocked@example.com"], "Spam", "buy now")
        assert printed_events(logs, stopper, "STOPPER", 1) == [["blocked@example.com"]]
        send(smtp_port, "y@customer.org", ["open@example.com"], "Hello", "a real message")
        [message] = take_messages(sqs, url, 1)
        published = json.loads(message["Body"])
        assert published["notificationType"] == "Received"
        assert published["mail"]["commonHeaders"]["subject"] == "Hello"
        assert "a real message" in published["content"]
        assert published["receipt"]["action"] == {"type": "SNS", "topicArn": topic, "encoding": "UTF8"}
    finally:
        ses.set_active_receipt_rule_set()


def test_without_an_active_rule_set_all_mail_is_refused(ses: Any, smtp_port: int) -> None:
    ses.set_active_receipt_rule_set()
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(smtp_port, "a@b.org", ["support@example.com"], "x", "y")


def test_oversized_and_malformed_sessions_are_refused_and_the_port_stays_up(
    server: RunningServer, ses: Any, smtp_port: int, tmp_path: Path
) -> None:
    rule_set = f"size-{uuid.uuid4().hex[:8]}"
    ses.create_receipt_rule_set(RuleSetName=rule_set)
    ses.create_receipt_rule(RuleSetName=rule_set, Rule={"Name": "all", "Enabled": True, "Actions": []})
    ses.set_active_receipt_rule_set(RuleSetName=rule_set)
    try:
        with pytest.raises(smtplib.SMTPException):
            send(smtp_port, "a@b.org", ["big@example.com"], "big", "x" * (11 * 1024 * 1024))
        with socket.create_connection(("127.0.0.1", smtp_port), timeout=10) as raw:
            raw.recv(1024)
            raw.sendall(b"\xff\xfe garbage\r\nRCPT TO:<x@y>\r\n")
            assert raw.recv(1024).startswith(b"5")
        assert send(smtp_port, "a@b.org", ["ok@example.com"], "small", "fine") == {}
        assert server.health()["status"] == "ok"
    finally:
        ses.set_active_receipt_rule_set()
