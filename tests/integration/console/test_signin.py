"""The web console in a real browser: Debian's Chromium driven by Playwright through the page's
roles and labels, against a real server. Sign-in failure and success, the functions list and its
search, the Test tab (a template, Test, the result, the summary and the log output), a read-only
user's refused Test, a forged form refused (CSRF), sign out. A screenshot of each page is kept in
.artifacts/console/."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from typing import Any

import pytest

from tests.support.browser import needs_chromium, raw, shot, sign_in
from tests.support.lambda_calls import create_function
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer

ECHO = {
    "app.py": (
        "import json\n\n"
        "def handler(event, context):\n"
        "    print('console test ' + json.dumps(event)[:60])\n"
        "    return {'got': event}\n"
    )
}


@pytest.fixture(scope="module")
def function_name(lambda_client: Any) -> str:
    name = f"console-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, name, ECHO)
    return name


@needs_chromium
def test_a_wrong_secret_is_refused(page: Any, server: RunningServer) -> None:
    sign_in(page, server, ACCESS_KEY, "not-the-secret")
    assert page.get_by_role("alert").inner_text() == "The access key ID or the secret access key is wrong."
    assert page.url.endswith("/_lamina/console/signin")
    shot(page, "signin-refused")


@needs_chromium
def test_functions_list_search_and_the_test_button(
    page: Any, server: RunningServer, function_name: str
) -> None:
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    table = page.get_by_role("table", name="Functions")
    assert table.get_by_role("link", name=function_name).is_visible()
    shot(page, "functions")
    page.get_by_label("Search functions").fill(function_name[-8:])
    page.get_by_role("button", name="Search").click()
    assert [row.inner_text() for row in table.get_by_role("link").all()] == [function_name]

    table.get_by_role("link", name=function_name).click()
    assert page.get_by_role("heading", name=function_name).is_visible()
    page.get_by_role("navigation", name="Function").get_by_role("link", name="Test").click()
    page.get_by_label("Template").select_option("SNS")
    page.get_by_role("button", name="Use template").click()
    assert "aws:sns" in page.get_by_label("Event JSON").input_value()
    page.get_by_label("Event JSON").fill('{"hello": "console"}')
    page.get_by_role("button", name="Test", exact=True).click()
    result = page.get_by_role("region", name="Execution result")
    shot(page, "function-test")
    assert json.loads(result.get_by_label("Response").inner_text()) == {"got": {"hello": "console"}}
    summary = result.get_by_label("Summary").inner_text()
    assert re.search(r"Request ID\s+[0-9a-f-]{36}", summary) and "Billed duration" in summary
    log = result.get_by_label("Log output").inner_text()
    assert (
        "START RequestId:" in log
        and 'console test {"hello": "console"}' in log
        and "REPORT RequestId:" in log
    )
    shot(page, "function-test")

    # Bad JSON is said, and nothing is invoked.
    page.get_by_label("Event JSON").fill("{not json")
    page.get_by_role("button", name="Test", exact=True).click()
    assert page.get_by_role("alert").inner_text().startswith("The event is not JSON")

    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("heading", name="Sign in").is_visible()
    page.goto(f"{server.endpoint}/_lamina/console/functions")
    assert page.url.endswith("/_lamina/console/signin")


@needs_chromium
def test_a_read_only_user_sees_functions_but_its_test_is_refused(
    page: Any, server: RunningServer, function_name: str
) -> None:
    iam = server.client("iam")
    user = f"reader-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")
    key = iam.create_access_key(UserName=user)["AccessKey"]
    sign_in(page, server, key["AccessKeyId"], key["SecretAccessKey"])
    page.get_by_role("table", name="Functions").get_by_role("link", name=function_name).click()
    page.get_by_role("link", name="Test", exact=True).click()
    page.get_by_role("button", name="Test", exact=True).click()
    alert = page.get_by_role("alert").inner_text()
    assert alert.startswith("AccessDeniedException: User: arn:aws:iam::000000000000:user/" + user)
    assert "lambda:InvokeFunction" in alert
    shot(page, "read-only-refused")


@needs_chromium
def test_a_form_without_its_token_is_refused(page: Any, server: RunningServer, function_name: str) -> None:
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    # The session cookie goes along (same origin), the form's token does not: a forged post.
    answer = page.request.post(
        f"{server.endpoint}/_lamina/console/functions/{function_name}/test",
        form={"event": "{}", "action": "test"},
    )
    assert answer.status == 403 and "security token" in answer.text()
    answer = page.request.post(
        f"{server.endpoint}/_lamina/console/functions/{function_name}/test",
        form={"event": "{}", "action": "test", "csrf": "forged"},
    )
    assert answer.status == 403


def test_what_an_attack_on_the_console_finds_is_refused(server: RunningServer) -> None:
    # Without a session every page sends to the sign-in; forged and malformed cookies are no session.
    for cookie in (
        "",
        "lamina_console=abc",
        "lamina_console=a.b",
        "lamina_console=" + "x" * 5000 + ".y",
        'lamina_console="; x',
    ):
        status, _ = raw(
            server, "GET", "/_lamina/console/functions", headers={"Cookie": cookie} if cookie else {}
        )
        assert status == 303, cookie
    # Static files: only the console's own, never a path out of its folder.
    assert raw(server, "GET", "/_lamina/console/static/console.css")[0] == 200
    for path in (
        "/_lamina/console/static/../app.py",
        "/_lamina/console/static/%2e%2e/app.py",
        "/_lamina/console/static/nope.css",
    ):
        assert raw(server, "GET", path)[0] == 404, path
    # Sign-in without its token, with a huge or odd body, or another content type: refused, not a 500.
    assert (
        raw(
            server,
            "POST",
            "/_lamina/console/signin",
            b"access_key_id=a&secret_access_key=b",
            {"Content-Type": "application/x-www-form-urlencoded"},
        )[0]
        == 403
    )
    assert (
        raw(
            server,
            "POST",
            "/_lamina/console/signin",
            b"\xff\xfe" * 1000,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )[0]
        == 403
    )
    assert (
        raw(server, "POST", "/_lamina/console/signin", b"{}", {"Content-Type": "application/json"})[0] == 403
    )
    with urllib.request.urlopen(f"{server.endpoint}/_lamina/console/signin", timeout=30) as response:
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "HttpOnly; SameSite=Strict" in response.headers["Set-Cookie"]


@needs_chromium
def test_temporary_credentials_sign_in_only_with_their_session_token(
    page: Any, server: RunningServer
) -> None:
    iam = server.client("iam")
    role = f"console-session-{uuid.uuid4().hex[:6]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")
    credentials = server.client("sts").assume_role(RoleArn=arn, RoleSessionName="browser")["Credentials"]
    sign_in(page, server, credentials["AccessKeyId"], credentials["SecretAccessKey"])
    assert page.get_by_role("alert").inner_text() == "Temporary credentials need their session token."
    sign_in(
        page, server, credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
    )
    assert page.get_by_role("heading", name="Functions").is_visible()
    assert f"assumed-role/{role}/browser" in page.locator(".who").inner_text()


def _password_sign_in(page: Any, server: RunningServer, user: str, password: str) -> None:
    page.goto(f"{server.endpoint}/_lamina/console/signin")
    page.get_by_role("link", name="Sign in as an IAM user with a password").click()
    page.get_by_label("Account ID").fill("000000000000")
    page.get_by_label("IAM user name").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


@needs_chromium
def test_an_iam_user_signs_in_with_its_password_and_must_reset_it_first(
    page: Any, server: RunningServer, function_name: str
) -> None:
    iam = server.client("iam")
    user = f"pw-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")
    iam.create_login_profile(UserName=user, Password="Initial-pass1", PasswordResetRequired=True)

    _password_sign_in(page, server, user, "Wrong-pass1")
    assert (
        page.get_by_role("alert").inner_text()
        == "Your authentication information is incorrect. Please try again."
    )
    shot(page, "signin-password-refused")

    _password_sign_in(page, server, user, "Initial-pass1")
    assert page.get_by_role("status").inner_text() == "You must choose a new password."
    page.get_by_label("Password", exact=True).fill("Initial-pass1")
    page.get_by_label("New password").fill("weak")
    page.get_by_role("button", name="Sign in").click()
    assert (
        page.get_by_role("alert").inner_text() == "Password does not conform to the account password policy."
    )
    page.get_by_label("Password", exact=True).fill("Initial-pass1")
    page.get_by_label("New password").fill("Chosen-pass2")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("heading", name="Functions").is_visible()
    assert page.locator(".who").inner_text() == f"arn:aws:iam::000000000000:user/{user}"
    assert iam.get_login_profile(UserName=user)["LoginProfile"]["PasswordResetRequired"] is False
    # Its policies apply: it reads functions, and its Test is refused.
    page.get_by_role("table", name="Functions").get_by_role("link", name=function_name).click()
    page.get_by_role("link", name="Test", exact=True).click()
    page.get_by_role("button", name="Test", exact=True).click()
    assert (
        page.get_by_role("alert")
        .inner_text()
        .startswith("AccessDeniedException: User: arn:aws:iam::000000000000:user/" + user)
    )

    # Deleting the login profile ends the session.
    iam.delete_login_profile(UserName=user)
    page.goto(f"{server.endpoint}/_lamina/console/functions")
    assert page.url.endswith("/_lamina/console/signin")


@needs_chromium
def test_the_console_can_be_used_from_the_keyboard(page: Any, server: RunningServer) -> None:
    page.goto(f"{server.endpoint}/_lamina/console/signin")
    page.keyboard.press("Tab")  # the skip link first
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.get_by_label("Access key ID").focus()
    page.keyboard.type(ACCESS_KEY)
    page.keyboard.press("Tab")
    page.keyboard.type(SECRET_KEY)
    page.keyboard.press("Enter")
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Functions")).to_be_visible()
