"""Statements AddPermission writes, and the policy document GetPolicy returns."""

from __future__ import annotations

import json

import pytest

from lamina.domain.policies import ResourcePolicy, permission_statement, principal_of

ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ("s3.amazonaws.com", {"Service": "s3.amazonaws.com"}),
        ("123456789012", {"AWS": "arn:aws:iam::123456789012:root"}),
        ("arn:aws:iam::123456789012:role/r", {"AWS": "arn:aws:iam::123456789012:role/r"}),
        ("*", "*"),
    ],
)
def test_principals(principal: str, expected: object) -> None:
    assert principal_of(principal) == expected


def test_a_service_statement_with_source_conditions() -> None:
    statement = permission_statement(
        {
            "StatementId": "s3",
            "Action": "lambda:InvokeFunction",
            "Principal": "s3.amazonaws.com",
            "SourceArn": "arn:aws:s3:::bucket",
            "SourceAccount": "123456789012",
        },
        ARN,
    )
    assert statement == {
        "Sid": "s3",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": ARN,
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": "123456789012"},
            "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"},
        },
    }


def test_function_url_conditions() -> None:
    statement = permission_statement(
        {
            "StatementId": "url",
            "Action": "lambda:InvokeFunctionUrl",
            "Principal": "*",
            "FunctionUrlAuthType": "NONE",
            "InvokedViaFunctionUrl": True,
        },
        ARN,
    )
    assert statement["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "NONE"},
        "Bool": {"lambda:InvokedViaFunctionUrl": "true"},
    }
    plain = permission_statement({"StatementId": "a", "Action": "lambda:*", "Principal": "123456789012"}, ARN)
    assert "Condition" not in plain


def test_policy_documents_and_changes() -> None:
    first = {"Sid": "a", "Effect": "Allow"}
    policy = ResourcePolicy().with_statement(first).with_statement({"Sid": "b", "Effect": "Allow"})
    assert json.loads(policy.document()) == {
        "Version": "2012-10-17",
        "Id": "default",
        "Statement": [first, {"Sid": "b", "Effect": "Allow"}],
    }
    assert policy.statement("a") == first and policy.statement("z") is None
    smaller = policy.without("a")
    assert [statement["Sid"] for statement in smaller.statements] == ["b"]
    assert smaller.revision_id != policy.revision_id
    assert ResourcePolicy.loads(policy.dumps()) == policy
