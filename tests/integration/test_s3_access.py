"""Who may do what to buckets and objects: IAM users' identity policies (`s3:*` actions on bucket
and object ARNs), bucket policies (for other principals of the account and for other accounts),
and a function's execution role, all through boto3 against a real server."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.cli import create_account
from tests.support.server import RunningServer, running_server

OTHER_ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("s3-access") / "data") as running:
        yield running


def _client(server: RunningServer, key_id: str, secret: str, service: str = "s3") -> Any:
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def _user(server: RunningServer, name: str, policy: dict[str, Any] | None) -> Any:
    iam = server.client("iam")
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return _client(server, key["AccessKeyId"], key["SecretAccessKey"])


def _denied(call: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as failure:
        call(*args, **kwargs)
    error = failure.value.response["Error"]
    assert (error["Code"], error.get("Message")) == ("AccessDenied", "Access Denied")
    assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_identity_policies_name_buckets_and_objects(server: RunningServer) -> None:
    root = server.client("s3")
    bucket = f"iam-{uuid.uuid4().hex[:12]}"
    root.create_bucket(Bucket=bucket)
    root.put_object(Bucket=bucket, Key="public/readme.txt", Body=b"open")
    root.put_object(Bucket=bucket, Key="private/secret.txt", Body=b"closed")
    reader = _user(
        server,
        f"reader-{uuid.uuid4().hex[:6]}",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/public/*"},
                {
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": f"arn:aws:s3:::{bucket}",
                },
            ],
        },
    )
    assert reader.get_object(Bucket=bucket, Key="public/readme.txt")["Body"].read() == b"open"
    assert reader.head_object(Bucket=bucket, Key="public/readme.txt")["ContentLength"] == 4
    assert [item["Key"] for item in reader.list_objects_v2(Bucket=bucket)["Contents"]] == [
        "private/secret.txt",
        "public/readme.txt",
    ]
    _denied(reader.get_object, Bucket=bucket, Key="private/secret.txt")
    _denied(reader.put_object, Bucket=bucket, Key="public/new", Body=b"x")
    _denied(reader.delete_object, Bucket=bucket, Key="public/readme.txt")
    _denied(reader.create_bucket, Bucket=f"mine-{uuid.uuid4().hex[:8]}")
    _denied(reader.list_buckets)
    # Copying needs s3:GetObject on the source as well as s3:PutObject on the target.
    _denied(reader.copy_object, Bucket=bucket, Key="public/copy", CopySource=f"{bucket}/public/readme.txt")
    nobody = _user(server, f"nobody-{uuid.uuid4().hex[:6]}", None)
    _denied(nobody.get_object, Bucket=bucket, Key="public/readme.txt")


def test_a_bucket_policy_lets_others_in(server: RunningServer) -> None:
    root = server.client("s3")
    bucket = f"shared-{uuid.uuid4().hex[:12]}"
    root.create_bucket(Bucket=bucket)
    writer_name = f"writer-{uuid.uuid4().hex[:6]}"
    writer = _user(server, writer_name, None)
    _denied(writer.put_object, Bucket=bucket, Key="drop/1", Body=b"x")
    created = create_account(server, "--account-id", OTHER_ACCOUNT)
    assert created.returncode == 0, created.stderr
    exports = dict(re.findall(r"^export (AWS_[A-Z_]+)=(.*)$", created.stdout, re.MULTILINE))
    other = _client(server, exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"])
    _denied(other.get_object, Bucket=bucket, Key="drop/1")
    root.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::000000000000:user/{writer_name}"},
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{bucket}/drop/*",
                    },
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": OTHER_ACCOUNT},
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    },
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:DeleteObject",
                        "Resource": f"arn:aws:s3:::{bucket}/drop/keep",
                    },
                ],
            }
        ),
    )
    writer.put_object(Bucket=bucket, Key="drop/1", Body=b"from a user")
    _denied(writer.put_object, Bucket=bucket, Key="elsewhere", Body=b"x")
    assert other.get_object(Bucket=bucket, Key="drop/1")["Body"].read() == b"from a user"
    assert other.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    _denied(other.put_object, Bucket=bucket, Key="drop/2", Body=b"x")
    # An explicit Deny in the bucket policy holds even for the bucket owner's root.
    root.put_object(Bucket=bucket, Key="drop/keep", Body=b"x")
    _denied(root.delete_object, Bucket=bucket, Key="drop/keep")
    # Bucket names are global: the other account cannot take this one, nor see it listed.
    with pytest.raises(ClientError) as failure:
        other.create_bucket(Bucket=bucket)
    assert failure.value.response["Error"]["Code"] == "BucketAlreadyExists"
    assert bucket not in [item["Name"] for item in other.list_buckets()["Buckets"]]
