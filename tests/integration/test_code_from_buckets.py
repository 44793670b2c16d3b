"""Deployment packages from a bucket, as CI pipelines deploy: CreateFunction, UpdateFunctionCode and
PublishLayerVersion name a bucket and key of the embedded S3 (through boto3 and the `aws` CLI),
with Lambda's errors quoting S3's for a missing bucket or key or a bucket in another region."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import ROLE
from tests.support.lambda_calls import wait_active, wait_updated
from tests.support.packaging import make_zip
from tests.support.server import RunningServer

V1 = make_zip({"app.py": "def handler(event, context):\n    return 'v1'\n"})
V2 = make_zip({"app.py": "import helper\ndef handler(event, context):\n    return helper.VALUE\n"})
LAYER = make_zip({"python/helper.py": "VALUE = 'from the layer'\n"})


@pytest.fixture(scope="module")
def artifacts(server: RunningServer) -> str:
    s3 = server.client("s3")
    bucket = f"artifacts-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    for key, data in (("builds/v1.zip", V1), ("builds/v2.zip", V2), ("layers/helper.zip", LAYER)):
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    return bucket


def _invoke(lambda_client: Any, name: str) -> Any:
    return json.loads(lambda_client.invoke(FunctionName=name)["Payload"].read())


def test_create_update_and_layer_from_a_bucket(lambda_client: Any, artifacts: str) -> None:
    name = f"from-s3-{uuid.uuid4().hex[:8]}"
    created = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"S3Bucket": artifacts, "S3Key": "builds/v1.zip"},
    )
    assert created["CodeSize"] == len(V1)
    wait_active(lambda_client, name)
    assert _invoke(lambda_client, name) == "v1"
    layer = lambda_client.publish_layer_version(
        LayerName="helper", Content={"S3Bucket": artifacts, "S3Key": "layers/helper.zip"}
    )
    assert layer["Content"]["CodeSize"] == len(LAYER)
    lambda_client.update_function_configuration(FunctionName=name, Layers=[layer["LayerVersionArn"]])
    wait_updated(lambda_client, name)
    lambda_client.update_function_code(FunctionName=name, S3Bucket=artifacts, S3Key="builds/v2.zip")
    wait_updated(lambda_client, name)
    assert _invoke(lambda_client, name) == "from the layer"
    lambda_client.delete_function(FunctionName=name)


def test_aws_cli_deploys_from_a_bucket(server: RunningServer, artifacts: str) -> None:
    name = f"cli-s3-{uuid.uuid4().hex[:8]}"
    completed = subprocess.run(
        [
            sys.executable, "-m", "awscli", "lambda", "create-function", "--function-name", name,
            "--runtime", "python3.11", "--role", ROLE, "--handler", "app.handler",
            "--code", f"S3Bucket={artifacts},S3Key=builds/v1.zip",
        ],
        env=server.cli_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["CodeSize"] == len(V1)
    server.client("lambda").delete_function(FunctionName=name)


def test_lambda_quotes_s3s_errors(server: RunningServer, lambda_client: Any, artifacts: str) -> None:
    def refusal(**code: str) -> str:
        with pytest.raises(ClientError) as failure:
            lambda_client.create_function(
                FunctionName=f"never-{uuid.uuid4().hex[:8]}",
                Runtime="python3.11",
                Role=ROLE,
                Handler="app.handler",
                Code=code,
            )
        error = failure.value.response["Error"]
        assert error["Code"] == "InvalidParameterValueException"
        return str(error["Message"])

    assert refusal(S3Bucket="no-such-bucket-anywhere", S3Key="x.zip") == (
        "Error occurred while GetObject. S3 Error Code: NoSuchBucket. "
        "S3 Error Message: The specified bucket does not exist"
    )
    assert refusal(S3Bucket=artifacts, S3Key="builds/none.zip") == (
        "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."
    )
    assert "NoSuchVersion" in refusal(
        S3Bucket=artifacts, S3Key="builds/v1.zip", S3ObjectVersion="3sL4kqtJlcpXroDTDmJ"
    )
    west = server.client("s3", region="us-west-2")
    elsewhere = f"west-{uuid.uuid4().hex[:10]}"
    west.create_bucket(Bucket=elsewhere, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    west.put_object(Bucket=elsewhere, Key="v1.zip", Body=V1)
    assert refusal(S3Bucket=elsewhere, S3Key="v1.zip") == (
        "Error occurred while GetObject. S3 Error Code: PermanentRedirect. "
        "S3 Error Message: The bucket is in this region: us-west-2. Please use this region to retry the request"
    )


def test_the_caller_needs_read_access_to_the_package(server: RunningServer, artifacts: str) -> None:
    import boto3
    from botocore.config import Config

    iam = server.client("iam")
    user = f"deployer-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/AWSLambda_FullAccess")
    key = iam.create_access_key(UserName=user)["AccessKey"]
    deployer = boto3.client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as failure:
        deployer.create_function(
            FunctionName=f"denied-{uuid.uuid4().hex[:8]}",
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"S3Bucket": artifacts, "S3Key": "builds/v1.zip"},
        )
    assert failure.value.response["Error"]["Message"] == (
        "Error occurred while GetObject. S3 Error Code: AccessDenied. S3 Error Message: Access Denied"
    )
    deployer.close()
