"""Directory-backed buckets (`lamina server --bucket NAME=PATH`): the directory's files are the
bucket's objects through S3, what S3 writes lands there as plain files, and files that any program
creates, changes or removes there are bucket events that run functions."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.packaging import make_zip
from tests.support.server import EXECUTION_ROLE, LAMBDA_TRUST_POLICY, RunningServer, running_server

RECORDER = """\
import json
import os
import urllib.parse

import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    record = event["Records"][0]
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(record))
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photos")
    (path / "existing").mkdir()
    (path / "existing" / "before.txt").write_text("there before the server")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> Iterator[RunningServer]:
    with running_server(
        tmp_path_factory.mktemp("directory-buckets") / "data", "--bucket", f"photos={folder}"
    ) as running:
        yield running


def test_the_directorys_files_are_the_buckets_objects(server: RunningServer, folder: Path) -> None:
    s3 = server.client("s3")
    assert "photos" in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]
    assert (
        s3.get_object(Bucket="photos", Key="existing/before.txt")["Body"].read() == b"there before the server"
    )
    s3.put_object(Bucket="photos", Key="uploads/new.json", Body=b'{"a": 1}')
    assert (folder / "uploads" / "new.json").read_bytes() == b'{"a": 1}'
    head = s3.head_object(Bucket="photos", Key="uploads/new.json")
    assert head["ContentType"] == "application/json"
    (folder / "written-by-hand.txt").write_text("plain file")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="photos")["Contents"]]
    assert {"existing/before.txt", "uploads/new.json", "written-by-hand.txt"} <= set(keys)
    assert not any(key.startswith(".lamina") for key in keys)
    upload_id = s3.create_multipart_upload(Bucket="photos", Key="parts/assembled.bin")["UploadId"]
    tags = [
        s3.upload_part(
            Bucket="photos", Key="parts/assembled.bin", UploadId=upload_id, PartNumber=n, Body=body
        )["ETag"]
        for n, body in ((1, b"1" * (5 * 1024 * 1024)), (2, b"22"))
    ]
    s3.complete_multipart_upload(
        Bucket="photos",
        Key="parts/assembled.bin",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": tag} for n, tag in enumerate(tags)]},
    )
    assert (folder / "parts" / "assembled.bin").stat().st_size == 5 * 1024 * 1024 + 2
    s3.delete_object(Bucket="photos", Key="uploads/new.json")
    assert not (folder / "uploads").exists()  # S3 has no folders: an emptied one goes too
    for bad in ("../escape.txt", "a/../../b", "a//b"):
        with pytest.raises(ClientError) as failure:
            s3.put_object(Bucket="photos", Key=bad, Body=b"x")
        assert failure.value.response["Error"]["Code"] == "InvalidArgument"
    assert not (folder.parent / "escape.txt").exists()
    with pytest.raises(ClientError):
        s3.delete_bucket(Bucket="photos")


def test_a_plain_file_write_runs_the_function(server: RunningServer, folder: Path) -> None:
    iam, lambda_client, s3, sqs = (server.client(name) for name in ("iam", "lambda", "s3", "sqs"))
    role = iam.create_role(RoleName="directory-events", AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)["Role"][
        "Arn"
    ]
    iam.attach_role_policy(
        RoleName="directory-events", PolicyArn="arn:aws:iam::aws:policy/AmazonSQSFullAccess"
    )
    results = sqs.create_queue(QueueName="directory-events")["QueueUrl"]
    lambda_client.create_function(
        FunctionName="on-file",
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": RECORDER})},
        Environment={"Variables": {"RESULTS": results}},
        Timeout=10,
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName="on-file")
    lambda_client.add_permission(
        FunctionName="on-file",
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::photos",
    )
    arn = lambda_client.get_function(FunctionName="on-file")["Configuration"]["FunctionArn"]
    s3.put_bucket_notification_configuration(
        Bucket="photos",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
            ]
        },
    )
    target = folder / "camera" / "holiday photo.jpg"
    target.parent.mkdir(exist_ok=True)
    with target.open("wb") as handle:  # an ordinary program writing a file, in pieces
        handle.write(b"\xff\xd8 part one ")
        handle.flush()
        os.fsync(handle.fileno())
        handle.write(b"part two")
    created = _records(sqs, results, 1)
    assert created[0]["eventName"] == "ObjectCreated:Put"
    assert created[0]["s3"]["object"]["key"] == "camera/holiday+photo.jpg"
    assert created[0]["s3"]["object"]["size"] == target.stat().st_size
    target.unlink()
    removed = _records(sqs, results, 1)
    assert removed[0]["eventName"] == "ObjectRemoved:Delete"
    assert removed[0]["s3"]["object"]["key"] == "camera/holiday+photo.jpg"
    # A write through S3 is announced once (not again by the directory watch).
    s3.put_object(Bucket="photos", Key="through-s3.txt", Body=b"x")
    assert [record["eventName"] for record in _records(sqs, results, 1)] == ["ObjectCreated:Put"]
    time.sleep(1.5)
    assert _records(sqs, results, 0) == []
    assert EXECUTION_ROLE  # the default test role is not what this function runs as


def _records(sqs: Any, url: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + (timeout if count else 0.5)
    while time.monotonic() < deadline and (count == 0 or len(found) < count):
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert count == 0 or len(found) >= count, f"{count} records expected, got {found}"
    return found


def test_links_and_file_system_conflicts_are_client_errors(
    server: RunningServer, folder: Path, tmp_path: Path
) -> None:
    s3 = server.client("s3")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not the bucket's")
    (folder / "escape").symlink_to(outside)
    for call in (
        lambda: s3.get_object(Bucket="photos", Key="escape/secret.txt"),
        lambda: s3.put_object(Bucket="photos", Key="escape/planted.txt", Body=b"x"),
    ):
        with pytest.raises(ClientError) as failure:
            call()
        assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 404)
    s3.delete_object(Bucket="photos", Key="escape/secret.txt")  # no such object here: 204, as S3 answers
    assert (outside / "secret.txt").read_text() == "not the bucket's"
    assert not (outside / "planted.txt").exists()
    (folder / "escape").unlink()
    s3.put_object(Bucket="photos", Key="clash/file.txt", Body=b"a file")
    for key, code in (
        ("clash", "InvalidArgument"),
        ("clash/file.txt/below", "InvalidArgument"),
        ("n" * 300, "KeyTooLongError"),
    ):
        with pytest.raises(ClientError) as failure:
            s3.put_object(Bucket="photos", Key=key, Body=b"x")
        assert failure.value.response["Error"]["Code"] == code, key
    result = s3.delete_objects(
        Bucket="photos", Delete={"Objects": [{"Key": "clash/file.txt"}, {"Key": "n" * 300}]}
    )
    assert [item["Key"] for item in result["Deleted"]] == ["clash/file.txt", "n" * 300]
    with pytest.raises(ClientError) as failure:
        s3.get_object(Bucket="photos", Key="m" * 300)
    assert failure.value.response["Error"]["Code"] == "NoSuchKey"
