"""The IAM policy evaluation engine against a table of cases taken from the IAM User Guide's rules:
effects, actions, resources, principals, every condition operator family, set qualifiers, policy
variables, and how identity and resource policies combine within and across accounts."""

from __future__ import annotations

from typing import Any

import pytest

from lamina.domain.iam.conditions import condition_holds
from lamina.domain.iam.evaluation import AccessRequest, Decision, evaluate
from lamina.domain.iam.matching import wildcard_match
from lamina.domain.iam.policy import MalformedPolicy, parse_policy
from lamina.domain.iam.principals import ASSUMED_ROLE, USER, Principal, root_of, service_principal

A, B = "111111111111", "222222222222"
FUNCTION = f"arn:aws:lambda:us-east-1:{A}:function:orders"
ALICE = Principal(USER, A, f"arn:aws:iam::{A}:user/alice", "AIDAALICE", "alice")
BOB = Principal(USER, B, f"arn:aws:iam::{B}:user/bob", "AIDABOB", "bob")
SESSION = Principal(
    ASSUMED_ROLE,
    A,
    f"arn:aws:sts::{A}:assumed-role/deployer/ci",
    "AROADEPLOYER:ci",
    "ci",
    f"arn:aws:iam::{A}:role/deployer",
)
S3 = service_principal("s3.amazonaws.com")


def identity(*statements: dict[str, Any]) -> Any:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)})


def resource(*statements: dict[str, Any]) -> Any:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, resource_policy=True)


def allow(action: Any = "lambda:InvokeFunction", res: Any = FUNCTION, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": res, **extra}


def deny(action: Any = "lambda:InvokeFunction", res: Any = FUNCTION, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": res, **extra}


def request(
    principal: Principal = ALICE,
    action: str = "lambda:InvokeFunction",
    res: str = FUNCTION,
    account: str = A,
    **context: Any,
) -> AccessRequest:
    return AccessRequest(principal, action, res, account, context)


ALLOW, EXPLICIT, IMPLICIT = Decision.ALLOW, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY

IDENTITY_CASES = [
    ("no policy: implicit deny", [], request(), IMPLICIT),
    ("exact action and resource", [identity(allow())], request(), ALLOW),
    ("other action", [identity(allow("lambda:GetFunction"))], request(), IMPLICIT),
    ("service wildcard", [identity(allow("lambda:*"))], request(), ALLOW),
    ("global wildcard", [identity(allow("*", "*"))], request(), ALLOW),
    ("action case does not matter", [identity(allow("LAMBDA:invokefunction"))], request(), ALLOW),
    ("prefix wildcard", [identity(allow("lambda:Invoke*"))], request(), ALLOW),
    ("single-character wildcard", [identity(allow("lambda:InvokeFunctio?"))], request(), ALLOW),
    ("wildcard does not over-match", [identity(allow("lambda:Get*"))], request(), IMPLICIT),
    ("action list", [identity(allow(["s3:GetObject", "lambda:InvokeFunction"]))], request(), ALLOW),
    (
        "resource wildcard",
        [identity(allow(res=f"arn:aws:lambda:us-east-1:{A}:function:*"))],
        request(),
        ALLOW,
    ),
    ("resource case matters", [identity(allow(res=FUNCTION.upper()))], request(), IMPLICIT),
    ("other resource", [identity(allow(res=FUNCTION + "-2"))], request(), IMPLICIT),
    ("explicit deny wins", [identity(allow("*", "*"), deny())], request(), EXPLICIT),
    (
        "deny in another policy wins",
        [identity(allow()), identity(deny("lambda:*", "*"))],
        request(),
        EXPLICIT,
    ),
    ("deny of another action", [identity(allow(), deny("lambda:DeleteFunction"))], request(), ALLOW),
    (
        "NotAction allows everything else",
        [identity({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})],
        request(),
        ALLOW,
    ),
    (
        "NotAction excludes the listed action",
        [identity({"Effect": "Allow", "NotAction": "lambda:Invoke*", "Resource": "*"})],
        request(),
        IMPLICIT,
    ),
    (
        "deny with NotAction",
        [identity(allow("*", "*"), {"Effect": "Deny", "NotAction": "lambda:Get*", "Resource": "*"})],
        request(),
        EXPLICIT,
    ),
    (
        "NotResource",
        [identity({"Effect": "Allow", "Action": "lambda:*", "NotResource": FUNCTION + "-secret"})],
        request(),
        ALLOW,
    ),
    (
        "NotResource excludes",
        [identity({"Effect": "Allow", "Action": "lambda:*", "NotResource": FUNCTION})],
        request(),
        IMPLICIT,
    ),
    (
        "policy variable in resource",
        [identity(allow(res=f"arn:aws:lambda:us-east-1:{A}:function:${{aws:username}}-*"))],
        request(res=f"arn:aws:lambda:us-east-1:{A}:function:alice-tools"),
        ALLOW,
    ),
    (
        "policy variable for another user",
        [identity(allow(res=f"arn:aws:lambda:us-east-1:{A}:function:${{aws:username}}-*"))],
        request(res=f"arn:aws:lambda:us-east-1:{A}:function:bob-tools"),
        IMPLICIT,
    ),
    (
        "missing policy variable matches nothing",
        [identity(allow(res=f"arn:aws:lambda:us-east-1:{A}:function:${{aws:username}}-*"))],
        request(SESSION, res=f"arn:aws:lambda:us-east-1:{A}:function:ci-tools"),
        IMPLICIT,
    ),
    (
        "policy variable default",
        [identity(allow(res=f"arn:aws:lambda:us-east-1:{A}:function:${{aws:username, 'shared'}}"))],
        request(SESSION, res=f"arn:aws:lambda:us-east-1:{A}:function:shared"),
        ALLOW,
    ),
    (
        "literal star escape",
        [identity(allow(res=f"arn:aws:lambda:us-east-1:{A}:function:a${{*}}b"))],
        request(res=f"arn:aws:lambda:us-east-1:{A}:function:axyzb"),
        IMPLICIT,
    ),
    (
        "literal star escape matches a star",
        [identity(allow(res=f"arn:aws:lambda:us-east-1:{A}:function:a${{*}}b"))],
        request(res=f"arn:aws:lambda:us-east-1:{A}:function:a*b"),
        ALLOW,
    ),
    ("root needs no policy in its account", [], request(root_of(A)), ALLOW),
    ("root is denied by an explicit deny", [identity(deny())], request(root_of(A)), EXPLICIT),
]


@pytest.mark.parametrize(
    ("case", "policies", "req", "expected"), IDENTITY_CASES, ids=[c[0] for c in IDENTITY_CASES]
)
def test_identity_policies(case: str, policies: list[Any], req: AccessRequest, expected: Decision) -> None:
    assert evaluate(req, policies) is expected


RESOURCE_CASES = [
    (
        "same account: resource policy alone",
        [],
        resource(allow(Principal={"AWS": ALICE.arn})),
        request(),
        ALLOW,
    ),
    # Naming the account delegates to its identity policies (the account's root ARN does the same).
    ("same account: account principal alone", [], resource(allow(Principal={"AWS": A})), request(), IMPLICIT),
    (
        "same account: account principal and identity",
        [identity(allow("lambda:*"))],
        resource(allow(Principal={"AWS": A})),
        request(),
        ALLOW,
    ),
    (
        "same account: root ARN names the account",
        [],
        resource(allow(Principal={"AWS": f"arn:aws:iam::{A}:root"})),
        request(),
        IMPLICIT,
    ),
    (
        "same account: root ARN covers the root",
        [],
        resource(allow(Principal={"AWS": A})),
        request(root_of(A)),
        ALLOW,
    ),
    (
        "same account: other principal",
        [],
        resource(allow(Principal={"AWS": f"arn:aws:iam::{A}:user/carol"})),
        request(),
        IMPLICIT,
    ),
    ("star principal", [], resource(allow(Principal="*")), request(), ALLOW),
    ("AWS star principal", [], resource(allow(Principal={"AWS": "*"})), request(), ALLOW),
    (
        "resource deny beats identity allow",
        [identity(allow())],
        resource(deny(Principal="*")),
        request(),
        EXPLICIT,
    ),
    (
        "role ARN names its sessions",
        [],
        resource(allow(Principal={"AWS": SESSION.role_arn})),
        request(SESSION),
        ALLOW,
    ),
    ("session ARN", [], resource(allow(Principal={"AWS": SESSION.arn})), request(SESSION), ALLOW),
    (
        "NotPrincipal deny spares the listed",
        [identity(allow())],
        resource({"Effect": "Deny", "NotPrincipal": {"AWS": ALICE.arn}, "Action": "*", "Resource": "*"}),
        request(),
        ALLOW,
    ),
    (
        "NotPrincipal deny hits the rest",
        [identity(allow())],
        resource({"Effect": "Deny", "NotPrincipal": {"AWS": ALICE.arn}, "Action": "*", "Resource": "*"}),
        request(SESSION),
        EXPLICIT,
    ),
    ("cross-account: resource side only", [], resource(allow(Principal={"AWS": B})), request(BOB), IMPLICIT),
    ("cross-account: identity side only", [identity(allow())], None, request(BOB), IMPLICIT),
    (
        "cross-account: both sides",
        [identity(allow())],
        resource(allow(Principal={"AWS": B})),
        request(BOB),
        ALLOW,
    ),
    (
        "cross-account: root of the caller's account",
        [],
        resource(allow(Principal={"AWS": B})),
        request(root_of(B)),
        ALLOW,
    ),
    ("cross-account: root without the grant", [], None, request(root_of(B)), IMPLICIT),
    (
        "cross-account: grant to another account",
        [identity(allow())],
        resource(allow(Principal={"AWS": A})),
        request(BOB),
        IMPLICIT,
    ),
    (
        "service with a grant",
        [],
        resource(allow(Principal={"Service": "s3.amazonaws.com"})),
        request(S3),
        ALLOW,
    ),
    ("service without a grant", [], None, request(S3), IMPLICIT),
    (
        "service granted to another service",
        [],
        resource(allow(Principal={"Service": "sns.amazonaws.com"})),
        request(S3),
        IMPLICIT,
    ),
    (
        "account principal does not name services",
        [],
        resource(allow(Principal={"AWS": "*"})),
        request(S3),
        IMPLICIT,
    ),
    (
        "service with matching SourceArn",
        [],
        resource(
            allow(
                Principal={"Service": "s3.amazonaws.com"},
                Condition={"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads-*"}},
            )
        ),
        request(S3, **{"aws:SourceArn": "arn:aws:s3:::uploads-2026"}),
        ALLOW,
    ),
    (
        "service with another SourceArn",
        [],
        resource(
            allow(
                Principal={"Service": "s3.amazonaws.com"},
                Condition={"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads-*"}},
            )
        ),
        request(S3, **{"aws:SourceArn": "arn:aws:s3:::other"}),
        IMPLICIT,
    ),
    (
        "service with the wrong SourceAccount",
        [],
        resource(
            allow(
                Principal={"Service": "s3.amazonaws.com"},
                Condition={"StringEquals": {"AWS:SourceAccount": A}},
            )
        ),
        request(S3, **{"aws:SourceAccount": B}),
        IMPLICIT,
    ),
]


@pytest.mark.parametrize(
    ("case", "identities", "res_policy", "req", "expected"),
    RESOURCE_CASES,
    ids=[c[0] for c in RESOURCE_CASES],
)
def test_resource_policies(
    case: str, identities: list[Any], res_policy: Any, req: AccessRequest, expected: Decision
) -> None:
    assert evaluate(req, identities, res_policy) is expected


CONTEXT = {
    "aws:sourceip": "10.1.2.3",
    "aws:currenttime": "2026-11-30T12:00:00Z",
    "aws:epochtime": "1796040000",
    "aws:securetransport": "false",
    "lambda:functionurlauthtype": "NONE",
    "aws:tagkeys": ["team", "cost"],
    "s3:max-keys": "10",
    "aws:username": "alice",
    "aws:principalarn": ALICE.arn,
}

CONDITION_CASES = [
    ({"StringEquals": {"aws:username": "alice"}}, True),
    ({"StringEquals": {"aws:username": "Alice"}}, False),
    ({"StringEquals": {"aws:username": ["bob", "alice"]}}, True),
    ({"StringNotEquals": {"aws:username": ["bob", "carol"]}}, True),
    ({"StringNotEquals": {"aws:username": ["bob", "alice"]}}, False),
    ({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}, True),
    ({"StringNotEqualsIgnoreCase": {"aws:username": "ALICE"}}, False),
    ({"StringLike": {"aws:principalarn": "arn:aws:iam::*:user/al*"}}, True),
    ({"StringNotLike": {"aws:principalarn": "arn:aws:iam::*:user/b*"}}, True),
    ({"StringEquals": {"aws:username": "${aws:username}"}}, True),
    ({"StringEquals": {"aws:missing": "x"}}, False),
    ({"StringNotEquals": {"aws:missing": "x"}}, True),
    ({"StringEqualsIfExists": {"aws:missing": "x"}}, True),
    ({"StringEqualsIfExists": {"aws:username": "bob"}}, False),
    ({"NumericLessThan": {"s3:max-keys": "11"}}, True),
    ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, True),
    ({"NumericGreaterThan": {"s3:max-keys": "10"}}, False),
    ({"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, True),
    ({"NumericEquals": {"s3:max-keys": "10.0"}}, True),
    ({"NumericNotEquals": {"s3:max-keys": "10"}}, False),
    ({"NumericEquals": {"aws:username": "10"}}, False),
    ({"DateLessThan": {"aws:currenttime": "2027-01-01T00:00:00Z"}}, True),
    ({"DateGreaterThan": {"aws:currenttime": "2027-01-01T00:00:00Z"}}, False),
    ({"DateEquals": {"aws:epochtime": "2026-11-30T12:00:00Z"}}, True),
    ({"DateNotEquals": {"aws:currenttime": "2026-11-30T12:00:00Z"}}, False),
    ({"DateGreaterThanEquals": {"aws:epochtime": "1796040000"}}, True),
    ({"DateLessThanEquals": {"aws:currenttime": "2026-11-29"}}, False),
    ({"Bool": {"aws:securetransport": "false"}}, True),
    ({"Bool": {"aws:securetransport": True}}, False),
    ({"IpAddress": {"aws:sourceip": "10.0.0.0/8"}}, True),
    ({"IpAddress": {"aws:sourceip": ["192.168.0.0/16", "10.1.2.3/32"]}}, True),
    ({"NotIpAddress": {"aws:sourceip": "10.0.0.0/8"}}, False),
    ({"NotIpAddress": {"aws:sourceip": "172.16.0.0/12"}}, True),
    ({"ArnEquals": {"aws:principalarn": ALICE.arn}}, True),
    ({"ArnLike": {"aws:principalarn": "arn:aws:iam::*:user/*"}}, True),
    ({"ArnLike": {"aws:principalarn": "arn:aws:iam::*:role/*"}}, False),
    ({"ArnNotLike": {"aws:principalarn": "arn:aws:iam::*:role/*"}}, True),
    ({"ArnNotEquals": {"aws:principalarn": ALICE.arn}}, False),
    ({"ArnLike": {"aws:missing": "arn:*"}}, False),
    ({"ArnNotLike": {"aws:missing": "arn:*"}}, True),
    ({"Null": {"aws:missing": "true"}}, True),
    ({"Null": {"aws:username": "true"}}, False),
    ({"Null": {"aws:username": "false"}}, True),
    ({"ForAnyValue:StringEquals": {"aws:tagkeys": ["team", "owner"]}}, True),
    ({"ForAnyValue:StringEquals": {"aws:tagkeys": ["owner"]}}, False),
    ({"ForAllValues:StringEquals": {"aws:tagkeys": ["team", "cost", "owner"]}}, True),
    ({"ForAllValues:StringEquals": {"aws:tagkeys": ["team"]}}, False),
    ({"ForAllValues:StringEquals": {"aws:missing": ["team"]}}, True),
    ({"ForAnyValue:StringEquals": {"aws:missing": ["team"]}}, False),
    ({"ForAnyValue:StringNotEquals": {"aws:tagkeys": ["team"]}}, True),
    ({"ForAllValues:StringLike": {"aws:tagkeys": ["t*", "c*"]}}, True),
    ({"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}, True),
    ({"StringEquals": {"aws:username": "alice"}, "Bool": {"aws:securetransport": "true"}}, False),
    ({"StringEquals": {"aws:username": "alice", "lambda:functionurlauthtype": "NONE"}}, True),
]


@pytest.mark.parametrize(("block", "expected"), CONDITION_CASES, ids=[str(c[0]) for c in CONDITION_CASES])
def test_condition_operators(block: dict[str, Any], expected: bool) -> None:
    def variable(name: str) -> str | None:
        value = CONTEXT.get(name.lower())
        return value if isinstance(value, str) else None

    assert condition_holds(block, CONTEXT, variable) is expected


def test_conditions_gate_statements() -> None:
    policy = identity(allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    assert evaluate(request(**{"aws:SourceIp": "10.9.9.9"}), [policy]) is ALLOW
    assert evaluate(request(**{"aws:SourceIp": "8.8.8.8"}), [policy]) is IMPLICIT
    guard = identity(allow("*", "*"), deny("*", "*", Condition={"Bool": {"aws:SecureTransport": "false"}}))
    assert evaluate(request(**{"aws:SecureTransport": "false"}), [guard]) is EXPLICIT
    assert evaluate(request(**{"aws:SecureTransport": "true"}), [guard]) is ALLOW


@pytest.mark.parametrize(
    ("document", "resource_policy", "message"),
    [
        ("not json", False, "Syntax errors"),
        ({"Version": "2012-10-17"}, False, "Statement"),
        ({"Version": "2011-01-01", "Statement": []}, False, "version"),
        ({"Statement": {"Effect": "Maybe", "Action": "*", "Resource": "*"}}, False, "Effect"),
        ({"Statement": {"Effect": "Allow", "Resource": "*"}}, False, "Action"),
        ({"Statement": {"Effect": "Allow", "Action": "*"}}, False, "Resource"),
        (
            {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}},
            False,
            "principal",
        ),
        ({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}, True, "Principal"),
        (
            {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Weird": {}}}},
            False,
            "Condition",
        ),
    ],
)
def test_malformed_policies(document: Any, resource_policy: bool, message: str) -> None:
    with pytest.raises(MalformedPolicy, match=message):
        parse_policy(document, resource_policy=resource_policy)


def test_wildcards() -> None:
    assert wildcard_match("a*c", "abbbc") and wildcard_match("a?c", "abc") and not wildcard_match("a?c", "ac")
    assert wildcard_match("*", "") and not wildcard_match("abc", "ABC")
    assert wildcard_match("abc", "ABC", ignore_case=True)
    assert wildcard_match("a.b", "a.b") and not wildcard_match("a.b", "axb")
