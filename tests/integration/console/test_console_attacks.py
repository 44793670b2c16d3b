"""What an attack on the console found, each kept as a test: another account's function of the
same name does not open this account's saved events or recordings; deleting a version keeps the
function's saved events; malformed input is a 4xx, never a 500; signing out revokes the cookie;
links cannot make a page say something; a refused create leaves no role; the overview shows only
the usage of functions the visitor may list."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import pytest

from tests.support.browser import RawSession
from tests.support.cli import new_account
from tests.support.lambda_calls import create_function
from tests.support.server import ACCESS_KEY, LAMBDA_TRUST_POLICY, SECRET_KEY, RunningServer

CODE = {"app.py": "def handler(event, context):\n    return event\n"}
CONSOLE = "/_lamina/console"


def _user_session(server: RunningServer, policy: dict[str, Any]) -> RawSession:
    iam = server.client("iam")
    user = f"attacker-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return RawSession.sign_in(server, key["AccessKeyId"], key["SecretAccessKey"])


def test_another_accounts_function_of_the_same_name_opens_nothing_of_this_one(
    server: RunningServer, lambda_client: Any
) -> None:
    name = f"same-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, name, CODE, Environment={"Variables": {"LAMINA_RECORD_EVENTS": "on"}})
    lambda_client.invoke(FunctionName=name, Payload=b'{"secret": "recorded-in-a"}')
    root = RawSession.sign_in(server, ACCESS_KEY, SECRET_KEY)
    csrf = root.csrf()
    status, _ = root.post(
        f"{CONSOLE}/functions/{name}/test",
        {
            "csrf": csrf,
            "action": "save",
            "event": '{"secret": "saved-in-a"}',
            "event_name": "prod",
            "scope": "shareable",
        },
    )
    assert status == 200

    account_b = f"{secrets.randbelow(10**11) + 10**11}"
    client_of_b = new_account(server, account_b)
    theirs = client_of_b("lambda")
    role = client_of_b("iam").create_role(RoleName="b-role", AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)
    create_function(theirs, name, CODE, Role=role["Role"]["Arn"])
    for action in ("lambda:GetFunction", "lambda:InvokeFunction"):
        theirs.add_permission(
            FunctionName=name, StatementId=action.split(":")[1], Action=action, Principal="000000000000"
        )
    own = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    eve = _user_session(
        server,
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": "lambda:*", "Resource": [own, f"{own}:*"]},
            ],
        },
    )
    assert eve.get(f"{CONSOLE}/functions/{name}/test")[0] == 403
    foreign = f"arn:aws:lambda:us-east-1:{account_b}:function:{name}"
    status, page = eve.get(f"{CONSOLE}/functions/{foreign}/test")
    assert status == 200 and "prod" not in page
    status, page = eve.post(
        f"{CONSOLE}/functions/{foreign}/test",
        {"csrf": eve.csrf(), "action": "open", "saved": "shareable/prod", "event": "{}"},
    )
    assert status == 404 and "saved-in-a" not in page
    status, page = eve.get(f"{CONSOLE}/functions/{foreign}/replay")
    assert status == 200 and "No recorded invocations." in page
    # A's own saved event is still there for A.
    assert "prod (shareable)" in root.get(f"{CONSOLE}/functions/{name}/test")[1]


def test_deleting_a_version_keeps_the_functions_saved_events(
    server: RunningServer, lambda_client: Any
) -> None:
    name = f"versioned-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, name, CODE)
    lambda_client.publish_version(FunctionName=name)
    root = RawSession.sign_in(server, ACCESS_KEY, SECRET_KEY)
    root.post(
        f"{CONSOLE}/functions/{name}/test",
        {"csrf": root.csrf(), "action": "save", "event": "{}", "event_name": "kept", "scope": "shareable"},
    )
    status, _ = root.post(
        f"{CONSOLE}/functions/{name}:1/delete", {"csrf": root.csrf(), "confirm": f"{name}:1"}
    )
    assert status == 303
    assert [
        item["Version"] for item in lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    ] == ["$LATEST"]
    assert "kept (shareable)" in root.get(f"{CONSOLE}/functions/{name}/test")[1]


def test_malformed_input_is_refused_not_a_failure(server: RunningServer, lambda_client: Any) -> None:
    name = f"malformed-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, name, CODE)
    root = RawSession.sign_in(server, ACCESS_KEY, SECRET_KEY)
    csrf = root.csrf()
    cases = [
        ("/signin", {"csrf": "é", "access_key_id": "a", "secret_access_key": "b"}),
        ("/signin/password", {"csrf": "é", "account_id": "000000000000", "user_name": "u", "password": "p"}),
        ("/overview/calculator", {"csrf": "é"}),
        (f"/functions/{name}/configuration/general", {"csrf": csrf, "memory": "²"}),
        (f"/functions/{name}/configuration/concurrency", {"csrf": csrf, "reserved": "①"}),
        (f"/functions/{name}/test", {"csrf": csrf, "action": "test", "event": "[" * 5000 + "]" * 5000}),
        (f"/functions/{name}/test", {"csrf": csrf, "action": "save", "event": "[" * 5000 + "]" * 5000}),
    ]
    for path, form in cases:
        status, body = root.post(CONSOLE + path, form)
        assert 400 <= status < 500, (path, status, body[:300])
    for path in (
        "/static/x%00.css",
        "/static/console.css%00",
        f"/functions/{name}/monitor/tail.json?since=" + "9" * 30,
    ):
        status, _ = root.get(CONSOLE + path)
        assert status in (200, 404), (path, status)


def test_signing_out_revokes_the_cookie(server: RunningServer) -> None:
    root = RawSession.sign_in(server, ACCESS_KEY, SECRET_KEY)
    assert root.get(f"{CONSOLE}/functions")[0] == 200
    assert root.post(f"{CONSOLE}/signout", {"csrf": root.csrf()})[0] == 303
    assert root.get(f"{CONSOLE}/functions")[0] == 303  # replaying the old cookie: signed out


def test_links_cannot_make_a_page_say_anything(server: RunningServer, lambda_client: Any) -> None:
    name = f"notices-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, name, CODE)
    root = RawSession.sign_in(server, ACCESS_KEY, SECRET_KEY)
    for path in (
        f"/functions/{name}/versions?notice=Call+this+number&published=1+HACKED&alias_action=create&alias=a+b",
        f"/functions/{name}/replay?notice=Call+this+number&redrove=5&queue=arn:aws:sqs:x",
        "/functions?deleted=Call+this+number",
    ):
        status, page = root.get(CONSOLE + path)
        assert status == 200 and "Call this number" not in page and "HACKED" not in page
        assert 'role="status"' not in page or "The function was deleted." in page


def test_a_refused_create_leaves_no_role_behind(server: RunningServer, lambda_client: Any) -> None:
    name = f"taken-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, name, CODE)
    iam = server.client("iam")

    def roles() -> list[str]:
        return [
            role["RoleName"]
            for role in iam.list_roles(MaxItems=1000)["Roles"]
            if role["RoleName"].startswith(name)
        ]

    root = RawSession.sign_in(server, ACCESS_KEY, SECRET_KEY)
    status, page = root.post(
        f"{CONSOLE}/functions/+new",
        {"csrf": root.csrf(), "source": "scratch", "name": name, "runtime": "python3.11", "role": "new"},
    )
    assert status == 400 and "ResourceConflictException" in page
    assert roles() == []


def test_the_overview_shows_only_the_usage_of_listable_functions(
    server: RunningServer, lambda_client: Any
) -> None:
    name = f"billed-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, name, CODE)
    lambda_client.invoke(FunctionName=name, Payload=b"{}")
    carol = _user_session(
        server,
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "lambda:GetAccountSettings", "Resource": "*"}],
        },
    )
    status, page = carol.get(f"{CONSOLE}/overview")
    assert status == 200 and name not in page and "ListFunctions" in page
    status, page = RawSession.sign_in(server, ACCESS_KEY, SECRET_KEY).get(f"{CONSOLE}/overview")
    assert status == 200 and name in page


@pytest.mark.parametrize("scope", ["private", "shareable"])
def test_saved_events_of_a_deleted_function_do_not_come_back_with_a_new_one(
    server: RunningServer, lambda_client: Any, scope: str
) -> None:
    name = f"reborn-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, name, CODE)
    root = RawSession.sign_in(server, ACCESS_KEY, SECRET_KEY)
    root.post(
        f"{CONSOLE}/functions/{name}/test",
        {"csrf": root.csrf(), "action": "save", "event": "{}", "event_name": "old", "scope": scope},
    )
    assert root.post(f"{CONSOLE}/functions/{name}/delete", {"csrf": root.csrf(), "confirm": name})[0] == 303
    create_function(lambda_client, name, CODE)
    assert f"old ({scope})" not in root.get(f"{CONSOLE}/functions/{name}/test")[1]
