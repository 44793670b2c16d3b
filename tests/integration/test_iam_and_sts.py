"""IAM and STS through boto3 against a real server: users and their keys, roles and their trust
policies, inline and managed policies, GetCallerIdentity and AssumeRole with session tokens."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support.lambda_calls import error_of
from tests.support.server import RunningServer, files_only, running_server

ACCOUNT = "000000000000"


def client_for(server: RunningServer, service: str, **credentials: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
        **credentials,
    )


@pytest.fixture(scope="module")
def iam(server: RunningServer) -> Any:
    return server.client("iam")


@pytest.fixture
def user(iam: Any) -> Iterator[str]:
    name = f"user-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    yield name
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    for policy in iam.list_user_policies(UserName=name)["PolicyNames"]:
        iam.delete_user_policy(UserName=name, PolicyName=policy)
    for attached in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=name, PolicyArn=attached["PolicyArn"])
    iam.delete_user(UserName=name)


def keys_of(iam: Any, user: str) -> dict[str, str]:
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


@files_only  # (reads the identity database's file for a secret that must not be there)
def test_users_and_access_keys(server: RunningServer, iam: Any, user: str) -> None:
    got = iam.get_user(UserName=user)["User"]
    assert got["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{user}" and got["UserId"].startswith("AIDA")
    assert isinstance(got["CreateDate"], datetime)
    assert user in [item["UserName"] for item in iam.list_users()["Users"]]
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=user)
    with pytest.raises(iam.exceptions.NoSuchEntityException) as missing:
        iam.get_user(UserName="nobody-" + uuid.uuid4().hex[:6])
    assert error_of(missing)[2] == 404

    credentials = keys_of(iam, user)
    listed = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert [item["AccessKeyId"] for item in listed] == [credentials["aws_access_key_id"]]
    assert "SecretAccessKey" not in listed[0]  # never returned after creation
    sts = client_for(server, "sts", **credentials)
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{user}"
    # GetUser without a name answers for the caller, once a policy lets users read themselves.
    as_user = client_for(server, "iam", **credentials)
    with pytest.raises(as_user.exceptions.ClientError) as denied:
        as_user.get_user()
    assert error_of(denied)[:2] == (
        "AccessDenied",
        f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: iam:GetUser on resource: "
        f"arn:aws:iam::{ACCOUNT}:user/{user} because no identity-based policy allows the iam:GetUser action",
    )
    read_self = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::*:user/${aws:username}"}
        ],
    }
    iam.put_user_policy(UserName=user, PolicyName="self", PolicyDocument=json.dumps(read_self))
    assert as_user.get_user()["User"]["UserName"] == user
    with pytest.raises(as_user.exceptions.ClientError):
        as_user.get_user(UserName="someone-else")
    # Secret keys are stored encrypted: the identity database never holds one in clear.
    database = (server.data_dir / "identity.db").read_bytes() + _wal(server)
    assert credentials["aws_secret_access_key"].encode() not in database
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_user(UserName=user)

    iam.update_access_key(UserName=user, AccessKeyId=credentials["aws_access_key_id"], Status="Inactive")
    with pytest.raises(sts.exceptions.ClientError) as inactive:
        sts.get_caller_identity()
    assert error_of(inactive)[2] == 403
    iam.update_access_key(UserName=user, AccessKeyId=credentials["aws_access_key_id"], Status="Active")
    assert sts.get_caller_identity()["Account"] == ACCOUNT
    keys_of(iam, user)
    with pytest.raises(iam.exceptions.LimitExceededException):
        keys_of(iam, user)


def test_roles_policies_and_attachments(iam: Any) -> None:
    name = f"role-{uuid.uuid4().hex[:8]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Description="exec")[
        "Role"
    ]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == trust  # botocore decodes it
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.create_role(RoleName=name + "-bad", AssumeRolePolicyDocument='{"Statement": []')

    inline = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:List*", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="list", PolicyDocument=json.dumps(inline))
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["list"]
    assert iam.get_role_policy(RoleName=name, PolicyName="list")["PolicyDocument"] == inline
    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    iam.attach_role_policy(RoleName=name, PolicyArn=basic)
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == [
        {"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": basic}
    ]
    assert iam.get_policy(PolicyArn=basic)["Policy"]["AttachmentCount"] >= 1
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_role(RoleName=name)

    own = iam.create_policy(PolicyName=f"p-{name}", PolicyDocument=json.dumps(inline))["Policy"]
    assert own["Arn"] == f"arn:aws:iam::{ACCOUNT}:policy/p-{name}"
    version = iam.get_policy_version(PolicyArn=own["Arn"], VersionId="v1")["PolicyVersion"]
    assert version["Document"] == inline
    local = [item["Arn"] for item in iam.list_policies(Scope="Local")["Policies"]]
    assert own["Arn"] in local
    iam.attach_role_policy(RoleName=name, PolicyArn=own["Arn"])
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_policy(PolicyArn=own["Arn"])
    for arn in (basic, own["Arn"]):
        iam.detach_role_policy(RoleName=name, PolicyArn=arn)
    iam.delete_policy(PolicyArn=own["Arn"])
    iam.delete_role_policy(RoleName=name, PolicyName="list")
    iam.delete_role(RoleName=name)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=name)


def test_assume_role_checks_trust_and_gives_session_credentials(
    server: RunningServer, iam: Any, user: str
) -> None:
    credentials = keys_of(iam, user)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{user}"
    name = f"assumable-{uuid.uuid4().hex[:8]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}],
    }
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    try:
        stranger = client_for(server, "sts", **keys_of(iam, name_of_other(iam)))
        with pytest.raises(stranger.exceptions.ClientError) as denied:
            stranger.assume_role(RoleArn=role_arn, RoleSessionName="nope")
        assert error_of(denied)[0] == "AccessDenied"

        sts = client_for(server, "sts", **credentials)
        assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName="ci", DurationSeconds=900)
        session = assumed["Credentials"]
        assert session["AccessKeyId"].startswith("ASIA") and session["SessionToken"]
        assert session["Expiration"] > datetime.now(UTC)
        assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/ci"
        as_role = client_for(
            server,
            "sts",
            aws_access_key_id=session["AccessKeyId"],
            aws_secret_access_key=session["SecretAccessKey"],
            aws_session_token=session["SessionToken"],
        )
        identity = as_role.get_caller_identity()
        assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/ci"
        assert identity["UserId"].endswith(":ci")
        wrong_token = client_for(
            server,
            "sts",
            aws_access_key_id=session["AccessKeyId"],
            aws_secret_access_key=session["SecretAccessKey"],
            aws_session_token="forged",
        )
        with pytest.raises(wrong_token.exceptions.ClientError) as forged:
            wrong_token.get_caller_identity()
        assert error_of(forged)[0] == "InvalidClientTokenId"
    finally:
        iam.delete_role(RoleName=name)


def _wal(server: RunningServer) -> bytes:
    wal = server.data_dir / "identity.db-wal"
    return wal.read_bytes() if wal.exists() else b""


def name_of_other(iam: Any) -> str:
    name = f"other-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    return name


def test_root_caller_identity(server: RunningServer) -> None:
    identity = server.client("sts").get_caller_identity()
    assert (identity["Account"], identity["Arn"]) == (ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root")


def test_identities_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}],
    }
    with running_server(data_dir) as first:
        iam = first.client("iam")
        iam.create_user(UserName="kept")
        iam.put_user_policy(UserName="kept", PolicyName="list", PolicyDocument=json.dumps(policy))
        iam.attach_user_policy(UserName="kept", PolicyArn="arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")
        key = iam.create_access_key(UserName="kept")["AccessKey"]
        first.stop()
    credentials = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    with running_server(data_dir) as second:
        assert client_for(second, "lambda", **credentials).list_functions()["Functions"] == []
        iam = second.client("iam")
        assert iam.list_user_policies(UserName="kept")["PolicyNames"] == ["list"]
        assert [
            p["PolicyName"] for p in iam.list_attached_user_policies(UserName="kept")["AttachedPolicies"]
        ] == ["AWSLambda_ReadOnlyAccess"]
        assert iam.list_roles()["Roles"][0]["RoleName"] == "lambda-role"
