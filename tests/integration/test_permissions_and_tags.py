"""AddPermission / GetPolicy / RemovePermission and TagResource / UntagResource / ListTags through
boto3 against a real server (test_aws_cli.py runs the CLI's add-permission example)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.lambda_calls import error_of
from tests.support.server import EXECUTION_ROLE

HELLO = {"app.py": "def handler(event, context):\n    return 'hello'\n"}
ARN = "arn:aws:lambda:us-east-1:000000000000:function"


def test_add_get_remove_permission(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as none:
        lambda_client.get_policy(FunctionName=name)
    assert error_of(none) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)

    added = lambda_client.add_permission(
        FunctionName=name,
        StatementId="s3-invoke",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::my-bucket",
        SourceAccount="123456789012",
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    statement = json.loads(added["Statement"])
    assert statement == {
        "Sid": "s3-invoke",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": f"{ARN}:{name}",
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": "123456789012"},
            "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"},
        },
    }
    # The AWS CLI example: another account may invoke.
    lambda_client.add_permission(
        FunctionName=name, StatementId="xaccount", Action="lambda:InvokeFunction", Principal="210987654321"
    )
    policy = lambda_client.get_policy(FunctionName=name)
    document = json.loads(policy["Policy"])
    assert (document["Version"], [s["Sid"] for s in document["Statement"]]) == (
        "2012-10-17",
        ["s3-invoke", "xaccount"],
    )
    assert document["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}

    with pytest.raises(lambda_client.exceptions.ResourceConflictException) as duplicate:
        lambda_client.add_permission(
            FunctionName=name, StatementId="xaccount", Action="lambda:InvokeFunction", Principal="*"
        )
    assert error_of(duplicate)[2] == 409
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.remove_permission(FunctionName=name, StatementId="xaccount", RevisionId="stale")
    lambda_client.remove_permission(
        FunctionName=name, StatementId="xaccount", RevisionId=policy["RevisionId"]
    )
    remaining = json.loads(lambda_client.get_policy(FunctionName=name)["Policy"])["Statement"]
    assert [s["Sid"] for s in remaining] == ["s3-invoke"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as missing_sid:
        lambda_client.remove_permission(FunctionName=name, StatementId="xaccount")
    assert error_of(missing_sid)[1] == "Statement xaccount is not found in resource policy."
    lambda_client.remove_permission(FunctionName=name, StatementId="s3-invoke")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_policy(FunctionName=name)


def test_policies_per_version_and_alias(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO, Publish=True)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for qualifier in ("1", "live"):
        statement = json.loads(
            lambda_client.add_permission(
                FunctionName=name,
                Qualifier=qualifier,
                StatementId=f"sid-{qualifier}",
                Action="lambda:InvokeFunction",
                Principal="sns.amazonaws.com",
            )["Statement"]
        )
        assert statement["Resource"] == f"{ARN}:{name}:{qualifier}"
        document = json.loads(lambda_client.get_policy(FunctionName=f"{name}:{qualifier}")["Policy"])
        assert [s["Sid"] for s in document["Statement"]] == [f"sid-{qualifier}"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_policy(FunctionName=name)  # the function's own policy is separate
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as latest:
        lambda_client.add_permission(
            FunctionName=name,
            Qualifier="$LATEST",
            StatementId="x",
            Action="lambda:InvokeFunction",
            Principal="*",
        )
    assert error_of(latest)[1] == "We currently do not support adding policies for $LATEST."
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.add_permission(
            FunctionName=name, Qualifier="9", StatementId="x", Action="lambda:InvokeFunction", Principal="*"
        )
    # Deleting the alias deletes its policy.
    lambda_client.delete_alias(FunctionName=name, Name="live")
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_policy(FunctionName=name, Qualifier="live")


def test_policy_size_limit(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO)
    long_arn = "arn:aws:s3:::" + "b" * 1000
    with pytest.raises(lambda_client.exceptions.PolicyLengthExceededException) as too_big:
        for index in range(30):
            lambda_client.add_permission(
                FunctionName=name,
                StatementId=f"s{index}",
                Action="lambda:InvokeFunction",
                Principal="s3.amazonaws.com",
                SourceArn=long_arn,
            )
    assert "bigger than the limit (20480)" in error_of(too_big)[1]
    kept = json.loads(lambda_client.get_policy(FunctionName=name)["Policy"])
    assert len(json.dumps(kept)) <= 20480
    with pytest.raises(ClientError) as bad_action:
        lambda_client.add_permission(
            FunctionName=name, StatementId="bad", Action="s3:GetObject", Principal="*"
        )
    assert error_of(bad_action)[0] == "ValidationException"


def test_tags(lambda_client: Any, deploy: Callable[..., str]) -> None:
    name = deploy(HELLO, Tags={"team": "core", "env": "dev"})
    arn = f"{ARN}:{name}"
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "core", "env": "dev"}
    assert lambda_client.get_function(FunctionName=name)["Tags"] == {"team": "core", "env": "dev"}
    tagged = lambda_client.tag_resource(Resource=arn, Tags={"env": "prod", "cost": "42"})
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "core", "env": "prod", "cost": "42"}
    lambda_client.untag_resource(Resource=arn, TagKeys=["team", "absent"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"env": "prod", "cost": "42"}

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.tag_resource(Resource=arn, Tags={"aws:owner": "me"})
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.tag_resource(Resource=arn, Tags={f"k{index}": "v" for index in range(49)})
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.list_tags(Resource=f"{ARN}:missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.list_tags(Resource=f"{arn}:1")
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.create_function(
            FunctionName=f"fn-{uuid.uuid4().hex[:8]}",
            Runtime="python3.11",
            Role=EXECUTION_ROLE,
            Handler="app.handler",
            Code={"ZipFile": b"x"},
            Tags={"aws:reserved": "x"},
        )
