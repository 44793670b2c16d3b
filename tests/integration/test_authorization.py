"""Who may do what: a matrix of principals (IAM users with different policies, an assumed role)
× Lambda actions × functions against a real server, plus resource-based grants and signature
tampering."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tests.support.lambda_calls import create_function, error_of
from tests.support.server import RunningServer, running_server

ACCOUNT = "000000000000"
HELLO = {"app.py": "def handler(event, context):\n    return 'hi'\n"}


def allow(actions: Any, resource: Any = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


def deny(actions: Any, resource: Any = "*") -> dict[str, Any]:
    return {"Effect": "Deny", "Action": actions, "Resource": resource}


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One server: functions `open` and `secret`, and users with different policies."""
    with running_server(tmp_path_factory.mktemp("authz") / "data") as server:
        root = server.client("lambda")
        iam = server.client("iam")
        for name in ("open", "secret"):
            create_function(root, name, HELLO)
        policies = {
            "invoker": [allow("lambda:InvokeFunction", fn_arn("open"))],
            "reader": None,  # AWSLambda_ReadOnlyAccess, attached below
            "admin-no-delete": [allow("lambda:*"), deny("lambda:DeleteFunction")],
            "nobody": [],
            "wildcard-name": [allow(["lambda:InvokeFunction", "lambda:GetFunction"], fn_arn("o*"))],
        }
        clients: dict[str, Callable[[str], Any]] = {}
        keys: dict[str, tuple[str, str]] = {}
        for user, statements in policies.items():
            iam.create_user(UserName=user)
            if statements:
                document = {"Version": "2012-10-17", "Statement": statements}
                iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(document))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            clients[user] = _client_factory(server, key["AccessKeyId"], key["SecretAccessKey"])
            keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        iam.attach_user_policy(
            UserName="reader", PolicyArn="arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess"
        )
        yield {"server": server, "root": root, "iam": iam, "clients": clients, "keys": keys}


def _client_factory(
    server: RunningServer, key: str, secret: str, token: str | None = None
) -> Callable[[str], Any]:
    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=Config(retries={"max_attempts": 1}),
        )

    return make


def attempt(client: Any, action: str, function: str) -> bool:
    """Whether the call was allowed (AccessDeniedException means it was not)."""
    calls = {
        "invoke": lambda: client.invoke(FunctionName=function),
        "get": lambda: client.get_function(FunctionName=function),
        "list": lambda: client.list_functions(),
        "configure": lambda: client.update_function_configuration(FunctionName=function, Description="x"),
        "delete-concurrency": lambda: client.delete_function_concurrency(FunctionName=function),
    }
    try:
        calls[action]()
    except client.exceptions.ClientError as error:
        if error.response["Error"]["Code"] == "AccessDeniedException":
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
            return False
        raise
    return True


MATRIX = [
    ("invoker", "invoke", "open", True),
    ("invoker", "invoke", "secret", False),
    ("invoker", "get", "open", False),
    ("invoker", "list", "open", False),
    ("reader", "get", "secret", True),
    ("reader", "list", "open", True),
    ("reader", "invoke", "open", False),
    ("reader", "configure", "open", False),
    ("admin-no-delete", "invoke", "secret", True),
    ("admin-no-delete", "configure", "secret", True),
    ("admin-no-delete", "delete-concurrency", "secret", True),
    ("nobody", "invoke", "open", False),
    ("nobody", "list", "open", False),
    ("wildcard-name", "invoke", "open", True),
    ("wildcard-name", "get", "open", True),
    ("wildcard-name", "invoke", "secret", False),
]


@pytest.mark.parametrize(
    ("user", "action", "function", "allowed"), MATRIX, ids=[f"{u}-{a}-{f}" for u, a, f, _ in MATRIX]
)
def test_permission_matrix(
    world: dict[str, Any], user: str, action: str, function: str, allowed: bool
) -> None:
    assert attempt(world["clients"][user]("lambda"), action, function) is allowed


def test_denials_name_principal_action_and_resource(world: dict[str, Any]) -> None:
    client = world["clients"]["invoker"]("lambda")
    with pytest.raises(client.exceptions.ClientError) as denied:
        client.invoke(FunctionName="secret")
    assert error_of(denied) == (
        "AccessDeniedException",
        f"User: arn:aws:iam::{ACCOUNT}:user/invoker is not authorized to perform: lambda:InvokeFunction on "
        f"resource: {fn_arn('secret')} because no identity-based policy allows the lambda:InvokeFunction action",
        403,
    )
    admin = world["clients"]["admin-no-delete"]("lambda")
    with pytest.raises(admin.exceptions.ClientError) as explicit:
        admin.delete_function(FunctionName="secret")
    assert "explicit deny" in error_of(explicit)[1]
    assert world["root"].get_function(FunctionName="secret")  # still there


def test_a_resource_policy_lets_a_user_in_without_an_identity_policy(world: dict[str, Any]) -> None:
    root, client = world["root"], world["clients"]["nobody"]("lambda")
    assert not attempt(client, "invoke", "secret")
    root.add_permission(
        FunctionName="secret",
        StatementId="nobody-may-invoke",
        Action="lambda:InvokeFunction",
        Principal=f"arn:aws:iam::{ACCOUNT}:user/nobody",
    )
    try:
        assert attempt(client, "invoke", "secret")
        assert not attempt(client, "get", "secret")  # only the action granted
    finally:
        root.remove_permission(FunctionName="secret", StatementId="nobody-may-invoke")
    assert not attempt(client, "invoke", "secret")
    # A grant to the account delegates to the caller's own policies: still denied.
    root.add_permission(
        FunctionName="secret", StatementId="account", Action="lambda:InvokeFunction", Principal=ACCOUNT
    )
    try:
        assert not attempt(client, "invoke", "secret")
    finally:
        root.remove_permission(FunctionName="secret", StatementId="account")


def test_an_assumed_role_has_its_roles_permissions(world: dict[str, Any]) -> None:
    iam, server = world["iam"], world["server"]
    name = f"invoke-open-{uuid.uuid4().hex[:6]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName=name,
        PolicyName="p",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [allow("lambda:InvokeFunction", fn_arn("open"))]}
        ),
    )
    # The trust policy names the account: the caller also needs sts:AssumeRole in its own policies.
    nobody_sts = world["clients"]["nobody"]("sts")
    with pytest.raises(nobody_sts.exceptions.ClientError) as refused:
        nobody_sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="session")
    assert error_of(refused)[0] == "AccessDenied"
    session = server.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="session"
    )
    credentials = session["Credentials"]
    as_role = _client_factory(
        server, credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    client = as_role("lambda")
    assert attempt(client, "invoke", "open")
    assert not attempt(client, "invoke", "secret")


def test_tampered_signatures_are_refused(world: dict[str, Any]) -> None:
    client = world["clients"]["admin-no-delete"]("lambda")

    def tamper(request: Any, **kwargs: Any) -> None:
        signed = request.headers["Authorization"]
        text = signed.decode() if isinstance(signed, bytes) else signed
        request.headers["Authorization"] = text[:-6] + "abcdef"

    client.meta.events.register("before-send.lambda.ListFunctions", tamper)
    with pytest.raises(client.exceptions.ClientError) as forged:
        client.list_functions()
    assert error_of(forged)[2] == 403
    unknown = boto3.client(
        "lambda",
        endpoint_url=world["server"].endpoint,
        region_name="us-east-1",
        aws_access_key_id="LKIAUNKNOWNKEY000000",
        aws_secret_access_key="x" * 40,
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(unknown.exceptions.ClientError) as stranger:
        unknown.list_functions()
    assert error_of(stranger)[2] == 403


def test_an_aws_iam_function_url_needs_a_caller_allowed_to_invoke_it(world: dict[str, Any]) -> None:
    root, server = world["root"], world["server"]
    url = root.create_function_url_config(FunctionName="open", AuthType="AWS_IAM")["FunctionUrl"]
    path = "/_lamina/urls/" + url.split("//", 1)[1].split(".", 1)[0] + "/"

    def status_as(user: str) -> int:
        key, secret = world["keys"][user]
        signed = AWSRequest(method="GET", url=f"{server.endpoint}{path}")
        SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(signed)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            connection.request("GET", path, headers=dict(signed.headers.items()))
            return connection.getresponse().status
        finally:
            connection.close()

    try:
        assert status_as("admin-no-delete") == 200  # lambda:* covers lambda:InvokeFunctionUrl
        assert status_as("nobody") == 403
        assert status_as("invoker") == 403  # lambda:InvokeFunction is not lambda:InvokeFunctionUrl
    finally:
        root.delete_function_url_config(FunctionName="open")
