"""Execution roles against a real server: CreateFunction checks the role, and a function's own
boto3 calls run with its role's temporary credentials, allowed or denied by the role's policies."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.lambda_calls import error_of
from tests.support.server import LAMBDA_TRUST_POLICY

ACCOUNT = "000000000000"

CALLER = """\
import boto3

def handler(event, context):
    identity = boto3.client("sts").get_caller_identity()
    result = {"arn": identity["Arn"]}
    try:
        boto3.client("lambda").list_functions()
        result["list"] = "allowed"
    except Exception as error:
        result["list"] = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
    try:
        boto3.client("iam").attach_role_policy(
            RoleName=event["role"], PolicyArn="arn:aws:iam::aws:policy/AWSLambda_FullAccess"
        )
        result["escalate"] = "allowed"
    except Exception as error:
        result["escalate"] = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
    return result
"""


def make_role(iam: Any, *statements: dict[str, Any], trust: str = LAMBDA_TRUST_POLICY) -> str:
    name = f"exec-{uuid.uuid4().hex[:8]}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    if statements:
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(document))
    return name


def test_the_role_must_exist_and_trust_lambda(
    lambda_client: Any, server: Any, deploy: Callable[..., str]
) -> None:
    iam = server.client("iam")
    message = "The role defined for the function cannot be assumed by Lambda."
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as missing:
        deploy({"app.py": CALLER}, Role=f"arn:aws:iam::{ACCOUNT}:role/no-such-role")
    assert error_of(missing) == ("InvalidParameterValueException", message, 400)
    ec2_trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    ec2_role = make_role(iam, trust=ec2_trust)
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as untrusted:
        deploy({"app.py": CALLER}, Role=f"arn:aws:iam::{ACCOUNT}:role/{ec2_role}")
    assert error_of(untrusted)[1] == message
    name = deploy({"app.py": CALLER})
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_configuration(
            FunctionName=name, Role=f"arn:aws:iam::{ACCOUNT}:role/{ec2_role}"
        )


def test_a_functions_calls_have_exactly_its_roles_rights(
    lambda_client: Any, server: Any, deploy: Callable[..., str]
) -> None:
    iam = server.client("iam")
    lister = make_role(iam, {"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"})
    nothing = make_role(iam)
    results = {}
    for role in (lister, nothing):
        name = deploy({"app.py": CALLER}, Role=f"arn:aws:iam::{ACCOUNT}:role/{role}", Timeout=30)
        response = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"role": role}))
        results[role] = (name, json.loads(response["Payload"].read()))
    name, allowed = results[lister]
    assert allowed["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{lister}/{name}"
    assert allowed["list"] == "allowed"
    assert allowed["escalate"] == "AccessDenied"  # it cannot give itself more rights
    _, denied = results[nothing]
    assert denied["list"] == "AccessDeniedException"
    assert denied["escalate"] == "AccessDenied"
    assert iam.list_attached_role_policies(RoleName=lister)["AttachedPolicies"] == []
