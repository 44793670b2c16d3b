"""Bucket notifications to functions, end to end: an upload runs a function, which reads the object
back through Lamina with its own boto3 client and writes a result object; filters pick the keys;
multipart completions and deletions notify too; the function's resource policy decides; and a
function writing into the bucket that triggers it is stopped as a recursive loop."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.server import LAMBDA_TRUST_POLICY, RunningServer

S3_ROLE_NAME = "s3-notification-tests"
RECORDER = """\
import json
import urllib.parse

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    record = event["Records"][0]
    bucket = record["s3"]["bucket"]["name"]
    key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
    length = None
    if record["eventName"].startswith("ObjectCreated"):
        length = len(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    name = record["eventName"].replace(":", "-") + "/" + key
    s3.put_object(Bucket=RESULTS, Key=name, Body=json.dumps({"event": event, "read": length}))
    return "recorded"
"""
LOOPER = """\
import urllib.parse

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    record = event["Records"][0]
    key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
    s3.put_object(Bucket=record["s3"]["bucket"]["name"], Key=key + "+", Body=b"again")
"""


@pytest.fixture(scope="module")
def s3(server: RunningServer) -> Any:
    return server.client("s3")


@pytest.fixture(scope="module")
def s3_role(server: RunningServer) -> str:
    iam = server.client("iam")
    try:
        role = iam.create_role(RoleName=S3_ROLE_NAME, AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)["Role"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=S3_ROLE_NAME)["Role"]
    iam.attach_role_policy(RoleName=S3_ROLE_NAME, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    return str(role["Arn"])


@pytest.fixture
def buckets(s3: Any) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        name = f"n-{uuid.uuid4().hex[:16]}"
        s3.create_bucket(Bucket=name)
        made.append(name)
        return name

    yield make
    for name in made:
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={})
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=item["Key"])
        s3.delete_bucket(Bucket=name)


def _allow_s3(lambda_client: Any, function: str, bucket: str) -> str:
    lambda_client.add_permission(
        FunctionName=function,
        StatementId=f"s3-{bucket}",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{bucket}",
    )
    return str(lambda_client.get_function(FunctionName=function)["Configuration"]["FunctionArn"])


def _results(s3: Any, bucket: str, expected: int, timeout: float = 30) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        if len(keys) >= expected:
            for key in keys:
                found[key] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            return found
        time.sleep(0.1)
    raise AssertionError(f"{expected} results expected in {bucket}, found {keys}")


def test_an_upload_runs_the_function_which_reads_it_back(
    s3: Any, lambda_client: Any, deploy: Callable[..., str], buckets: Callable[[], str], s3_role: str
) -> None:
    uploads, results = buckets(), buckets()
    function = deploy({"app.py": RECORDER.replace("RESULTS", repr(results))}, Role=s3_role, Timeout=30)
    arn = _allow_s3(lambda_client, function, uploads)
    configuration = {
        "LambdaFunctionConfigurations": [
            {
                "Id": "thumbnails",
                "LambdaFunctionArn": arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "prefix", "Value": "photos/"},
                            {"Name": "suffix", "Value": ".jpg"},
                        ]
                    }
                },
            }
        ]
    }
    s3.put_bucket_notification_configuration(Bucket=uploads, NotificationConfiguration=configuration)
    stored = s3.get_bucket_notification_configuration(Bucket=uploads)
    assert stored["LambdaFunctionConfigurations"] == configuration["LambdaFunctionConfigurations"]

    body = b"\xff\xd8 a jpeg " * 100
    etag = s3.put_object(Bucket=uploads, Key="photos/my cat.jpg", Body=body)["ETag"]
    s3.put_object(Bucket=uploads, Key="photos/readme.txt", Body=b"no")  # suffix filtered out
    s3.put_object(Bucket=uploads, Key="other/dog.jpg", Body=b"no")  # prefix filtered out
    found = _results(s3, results, 1)
    time.sleep(1)  # any event the filters let through wrongly would have arrived by now
    assert list(_results(s3, results, 1)) == ["ObjectCreated-Put/photos/my cat.jpg"]
    result = found["ObjectCreated-Put/photos/my cat.jpg"]
    assert result["read"] == len(body)
    (record,) = result["event"]["Records"]
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["requestParameters"]["sourceIPAddress"] == "127.0.0.1"
    assert record["s3"]["configurationId"] == "thumbnails"
    assert record["s3"]["bucket"]["name"] == uploads
    assert record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{uploads}"
    assert record["s3"]["object"]["key"] == "photos/my+cat.jpg"
    assert record["s3"]["object"]["size"] == len(body)
    assert record["s3"]["object"]["eTag"] == etag.strip('"')
    assert record["eventTime"].endswith("Z") and len(record["s3"]["object"]["sequencer"]) >= 16


def test_multipart_copies_and_deletes_notify(
    s3: Any, lambda_client: Any, deploy: Callable[..., str], buckets: Callable[[], str], s3_role: str
) -> None:
    uploads, results = buckets(), buckets()
    function = deploy({"app.py": RECORDER.replace("RESULTS", repr(results))}, Role=s3_role, Timeout=30)
    arn = _allow_s3(lambda_client, function, uploads)
    s3.put_bucket_notification_configuration(
        Bucket=uploads,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": arn,
                    "Events": ["s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectCreated:Copy"],
                },
                {"LambdaFunctionArn": arn, "Events": ["s3:ObjectRemoved:*"]},
            ]
        },
    )
    s3.put_object(Bucket=uploads, Key="plain", Body=b"not notified: only multipart and copies are")
    upload_id = s3.create_multipart_upload(Bucket=uploads, Key="parts")["UploadId"]
    tag = s3.upload_part(Bucket=uploads, Key="parts", UploadId=upload_id, PartNumber=1, Body=b"p" * 100)[
        "ETag"
    ]
    s3.complete_multipart_upload(
        Bucket=uploads,
        Key="parts",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": tag}]},
    )
    s3.copy_object(Bucket=uploads, Key="copied", CopySource={"Bucket": uploads, "Key": "plain"})
    s3.delete_object(Bucket=uploads, Key="plain")
    found = _results(s3, results, 3)
    assert sorted(found) == [
        "ObjectCreated-CompleteMultipartUpload/parts",
        "ObjectCreated-Copy/copied",
        "ObjectRemoved-Delete/plain",
    ]
    removed = found["ObjectRemoved-Delete/plain"]["event"]["Records"][0]["s3"]["object"]
    assert set(removed) == {"key", "sequencer"}  # no size or ETag for a removal
    assert found["ObjectCreated-CompleteMultipartUpload/parts"]["read"] == 100


def test_the_functions_policy_decides(
    s3: Any, lambda_client: Any, deploy: Callable[..., str], buckets: Callable[[], str], s3_role: str
) -> None:
    uploads, results = buckets(), buckets()
    function = deploy({"app.py": RECORDER.replace("RESULTS", repr(results))}, Role=s3_role)
    arn = str(lambda_client.get_function(FunctionName=function)["Configuration"]["FunctionArn"])
    configuration = {
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]
    }
    with pytest.raises(ClientError) as failure:
        s3.put_bucket_notification_configuration(Bucket=uploads, NotificationConfiguration=configuration)
    error = failure.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "InvalidArgument",
        "Unable to validate the following destination configurations",
    )
    assert error["ArgumentName"] == arn
    # Told to skip the check, S3 keeps the configuration; events still need the policy.
    s3.put_bucket_notification_configuration(
        Bucket=uploads, NotificationConfiguration=configuration, SkipDestinationValidation=True
    )
    s3.put_object(Bucket=uploads, Key="ignored", Body=b"x")
    time.sleep(1.5)
    assert "Contents" not in s3.list_objects_v2(Bucket=results)
    _allow_s3(lambda_client, function, uploads)
    s3.put_object(Bucket=uploads, Key="delivered", Body=b"x")
    assert list(_results(s3, results, 1)) == ["ObjectCreated-Put/delivered"]


def test_bad_configurations_are_refused(s3: Any, buckets: Callable[[], str]) -> None:
    bucket = buckets()
    arn = "arn:aws:lambda:us-east-1:000000000000:function:anything"
    cases = [
        {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:Nope"]},
        {
            "LambdaFunctionArn": arn,
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {
                "Key": {"FilterRules": [{"Name": "prefix", "Value": "a"}, {"Name": "prefix", "Value": "b"}]}
            },
        },
    ]
    for entry in cases:
        with pytest.raises(ClientError) as failure:
            s3.put_bucket_notification_configuration(
                Bucket=bucket,
                NotificationConfiguration={"LambdaFunctionConfigurations": [entry]},
                SkipDestinationValidation=True,
            )
        assert failure.value.response["Error"]["Code"] == "InvalidArgument"
    overlapping = [
        {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]},
        {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:Put"]},
    ]
    with pytest.raises(ClientError) as failure:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"LambdaFunctionConfigurations": overlapping},
            SkipDestinationValidation=True,
        )
    assert "overlap" in failure.value.response["Error"]["Message"]


def test_a_function_writing_into_its_own_bucket_is_stopped(
    s3: Any, lambda_client: Any, deploy: Callable[..., str], buckets: Callable[[], str], s3_role: str
) -> None:
    """The classic trap: each write triggers the next invocation. Lambda's recursive loop detection
    (RecursiveLoop=Terminate) stops the chain at 16 invocations."""
    bucket = buckets()
    function = deploy({"app.py": LOOPER}, Role=s3_role, Timeout=30)
    arn = _allow_s3(lambda_client, function, bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket=bucket, Key="seed", Body=b"x")
    deadline = time.monotonic() + 60
    count, stable_since = 0, time.monotonic()
    while time.monotonic() < deadline:
        now = s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
        if now != count:
            count, stable_since = now, time.monotonic()
        elif count > 1 and time.monotonic() - stable_since > 3:
            break
        time.sleep(0.2)
    assert count == 17  # the seed and 16 invocations' writes; the 17th invocation never ran
