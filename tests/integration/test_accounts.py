"""Accounts against a real server: `lamina admin create-account`, isolation of IAM and of
functions between accounts, and cross-account Invoke through AddPermission with an account
principal (the AWS CLI's own example)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support.cli import create_account
from tests.support.lambda_calls import create_function, error_of, wait_updated
from tests.support.packaging import make_zip
from tests.support.server import LAMBDA_TRUST_POLICY, RunningServer, running_server

PRIMARY = "000000000000"
HELLO = {"app.py": "def handler(event, context):\n    return context.invoked_function_arn\n"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("accounts") / "data") as running:
        yield running


def lamina_logs(server: RunningServer, *args: str) -> str:
    deadline = time.monotonic() + 10
    while True:  # log events reach the disk within the server's flush interval
        shown = subprocess.run(
            [sys.executable, "-m", "lamina", "logs", *args, "--data-dir", str(server.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        if "REPORT" in shown or time.monotonic() > deadline:
            return shown
        time.sleep(0.1)


def client_from(exports: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=exports["AWS_ENDPOINT_URL"],
        region_name=exports["AWS_DEFAULT_REGION"],
        aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def second(server: RunningServer) -> dict[str, str]:
    created = create_account(server, "--account-id", "210987654321")
    assert created.returncode == 0, created.stderr
    exports = dict(re.findall(r"^export (AWS_[A-Z_]+)=(.*)$", created.stdout, re.MULTILINE))
    assert exports["AWS_ACCESS_KEY_ID"] and exports["AWS_SECRET_ACCESS_KEY"]
    return exports


def test_a_new_account_has_its_own_root_and_iam(server: RunningServer, second: dict[str, str]) -> None:
    identity = client_from(second, "sts").get_caller_identity()
    assert (identity["Account"], identity["Arn"]) == ("210987654321", "arn:aws:iam::210987654321:root")
    server.client("iam").create_user(UserName="only-in-primary")
    theirs = client_from(second, "iam")
    theirs.create_user(UserName="only-in-second")
    assert [user["UserName"] for user in theirs.list_users()["Users"]] == ["only-in-second"]
    assert "only-in-second" not in [user["UserName"] for user in server.client("iam").list_users()["Users"]]
    with pytest.raises(theirs.exceptions.NoSuchEntityException):
        theirs.get_user(UserName="only-in-primary")
    again = create_account(server, "--account-id", "210987654321")
    assert again.returncode != 0 and "already exists" in again.stderr


def test_only_the_first_accounts_root_may_create_accounts(
    server: RunningServer, second: dict[str, str]
) -> None:
    exports = {**server.cli_env(), **{k: v for k, v in second.items() if k.startswith("AWS_")}}
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "lamina",
            "admin",
            "create-account",
            "--data-dir",
            str(server.data_dir / "elsewhere"),
            "--port",
            str(server.port),
        ],
        env=exports
        | {
            "LAMINA_ROOT_ACCESS_KEY_ID": second["AWS_ACCESS_KEY_ID"],
            "LAMINA_ROOT_SECRET_ACCESS_KEY": second["AWS_SECRET_ACCESS_KEY"],
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "may not use Lamina's admin API" in refused.stderr


def test_cross_account_invoke_needs_a_grant_to_the_account(
    server: RunningServer, second: dict[str, str]
) -> None:
    primary = server.client("lambda")
    create_function(primary, "shared", HELLO)
    arn = f"arn:aws:lambda:us-east-1:{PRIMARY}:function:shared"
    theirs = client_from(second, "lambda")
    with pytest.raises(theirs.exceptions.ClientError) as denied:
        theirs.invoke(FunctionName=arn)
    assert error_of(denied)[0] == "AccessDeniedException"
    # The AWS CLI example: aws lambda add-permission --principal 210987654321 ...
    primary.add_permission(
        FunctionName="shared",
        StatementId="xaccount",
        Action="lambda:InvokeFunction",
        Principal="210987654321",
    )
    response = theirs.invoke(FunctionName=arn)
    assert response["StatusCode"] == 200 and response["Payload"].read() == f'"{arn}"'.encode()
    with pytest.raises(theirs.exceptions.ClientError) as other_action:
        theirs.get_function(FunctionName=arn)  # only the granted action
    assert error_of(other_action)[0] == "AccessDeniedException"
    assert "shared" in [f["FunctionName"] for f in primary.list_functions()["Functions"]]


def test_a_grant_of_lambda_star_covers_every_function_action(
    server: RunningServer, second: dict[str, str]
) -> None:
    primary = server.client("lambda")
    create_function(primary, "open-to-second", HELLO)
    arn = f"arn:aws:lambda:us-east-1:{PRIMARY}:function:open-to-second"
    primary.add_permission(
        FunctionName="open-to-second", StatementId="all", Action="lambda:*", Principal="210987654321"
    )
    theirs = client_from(second, "lambda")
    assert theirs.get_function(FunctionName=arn)["Configuration"]["FunctionArn"] == arn
    assert theirs.get_function_configuration(FunctionName=arn)["FunctionName"] == "open-to-second"
    assert theirs.invoke(FunctionName=arn)["Payload"].read() == f'"{arn}"'.encode()
    theirs.update_function_configuration(FunctionName=arn, Description="set by the second account")
    wait_updated(primary, "open-to-second")
    assert primary.get_function(FunctionName="open-to-second")["Configuration"]["Description"] == (
        "set by the second account"
    )
    assert theirs.get_policy(FunctionName=arn)["Policy"]


def test_a_layer_shared_with_an_account_can_be_used_by_it(
    server: RunningServer, second: dict[str, str]
) -> None:
    primary = server.client("lambda")
    layer = primary.publish_layer_version(
        LayerName="shared-lib", Content={"ZipFile": make_zip({"python/shared_lib.py": "WHO = 'primary'\n"})}
    )
    theirs = client_from(second, "lambda")
    client_from(second, "iam").create_role(
        RoleName="layer-user", AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY
    )
    role = "arn:aws:iam::210987654321:role/layer-user"
    user = {"app.py": "import shared_lib\ndef handler(event, context):\n    return shared_lib.WHO\n"}
    missing = f"arn:aws:lambda:us-east-1:{PRIMARY}:layer:no-such-layer:1"
    # Not shared and not there get the same answer: existence is not told to other accounts.
    for arn in (layer["LayerVersionArn"], missing):
        with pytest.raises(theirs.exceptions.ClientError) as refused:
            create_function(theirs, "uses-shared-lib", user, Role=role, Layers=[arn])
        assert error_of(refused) == (
            "AccessDeniedException",
            f"User: arn:aws:iam::210987654321:root is not authorized to perform: lambda:GetLayerVersion on "
            f"resource: {arn} because no resource-based policy allows the lambda:GetLayerVersion action",
            403,
        )
    with pytest.raises(theirs.exceptions.ClientError) as unreadable:
        theirs.get_layer_version_by_arn(Arn=layer["LayerVersionArn"])
    assert error_of(unreadable)[0] == "AccessDeniedException"
    granted = primary.add_layer_version_permission(
        LayerName="shared-lib",
        VersionNumber=layer["Version"],
        StatementId="second",
        Action="lambda:GetLayerVersion",
        Principal="arn:aws:iam::210987654321:root",  # the account's root ARN, as AWS stores an id
    )
    assert '"Principal":{"AWS":"arn:aws:iam::210987654321:root"}' in granted["Statement"]
    assert theirs.get_layer_version_by_arn(Arn=layer["LayerVersionArn"])["Version"] == layer["Version"]
    create_function(theirs, "uses-shared-lib", user, Role=role, Layers=[layer["LayerVersionArn"]])
    assert theirs.invoke(FunctionName="uses-shared-lib")["Payload"].read() == b'"primary"'
    theirs.delete_function(FunctionName="uses-shared-lib")


def test_each_account_has_its_own_functions(server: RunningServer, second: dict[str, str]) -> None:
    primary, theirs = server.client("lambda"), client_from(second, "lambda")
    role = "arn:aws:iam::210987654321:role/their-role"
    client_from(second, "iam").create_role(
        RoleName="their-role", AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY
    )
    # The same name in both accounts: two functions that know nothing of each other.
    create_function(primary, "same-name", HELLO)
    create_function(theirs, "same-name", HELLO, Role=role)
    assert theirs.invoke(FunctionName="same-name")["Payload"].read() == (
        b'"arn:aws:lambda:us-east-1:210987654321:function:same-name"'
    )
    assert primary.invoke(FunctionName="same-name")["Payload"].read() == (
        b'"arn:aws:lambda:us-east-1:000000000000:function:same-name"'
    )
    assert [f["FunctionName"] for f in theirs.list_functions()["Functions"]] == ["same-name"]
    assert "shared" not in [f["FunctionName"] for f in theirs.list_functions()["Functions"]]
    # Each account's logs are its own: `lamina logs --account-id` reads the second account's.
    printer = {"app.py": "def handler(event, context):\n    print('from-second')\n    return 1\n"}
    create_function(theirs, "printer", printer, Role=role)
    theirs.invoke(FunctionName="printer")
    shown = lamina_logs(server, "printer", "--account-id", "210987654321")
    assert "from-second" in shown and "START RequestId" in shown
    assert "from-second" not in lamina_logs(server, "printer")
    # A role of another account cannot be an execution role here.
    with pytest.raises(theirs.exceptions.InvalidParameterValueException):
        create_function(theirs, "borrowed-role", HELLO)  # the first account's lambda-role
    # Without a grant, the first account cannot reach the second's function either.
    with pytest.raises(primary.exceptions.ClientError) as denied:
        primary.get_function(FunctionName="arn:aws:lambda:us-east-1:210987654321:function:same-name")
    assert error_of(denied)[0] == "AccessDeniedException"


def test_accounts_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir) as first:
        created = create_account(first, "--account-id", "111122223333")
        assert created.returncode == 0, created.stderr
        exports = dict(re.findall(r"^export (AWS_[A-Z_]+)=(.*)$", created.stdout, re.MULTILINE))
        first.stop()
    with running_server(data_dir) as restarted:
        exports["AWS_ENDPOINT_URL"] = restarted.endpoint
        assert client_from(exports, "sts").get_caller_identity()["Account"] == "111122223333"
