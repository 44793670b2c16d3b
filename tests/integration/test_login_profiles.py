"""IAM login profiles (console passwords) through boto3: create, get, update, delete, with IAM's
errors, the default password policy, and a user that cannot be deleted while it has one; the
profile survives a restart (its hash stored, encrypted, with the identity store)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.lambda_calls import error_of
from tests.support.server import RunningServer, start_server

GOOD = "Corr3ct-horse"


@pytest.fixture
def user(server: RunningServer) -> str:
    name = f"console-user-{uuid.uuid4().hex[:6]}"
    server.client("iam").create_user(UserName=name)
    return name


def test_create_get_update_delete(server: RunningServer, user: str) -> None:
    iam = server.client("iam")
    created = iam.create_login_profile(UserName=user, Password=GOOD, PasswordResetRequired=True)[
        "LoginProfile"
    ]
    assert created["UserName"] == user and created["PasswordResetRequired"] is True
    fetched = iam.get_login_profile(UserName=user)["LoginProfile"]
    assert fetched["CreateDate"] == created["CreateDate"] and fetched["PasswordResetRequired"] is True
    assert "Password" not in fetched

    with pytest.raises(ClientError) as exists:
        iam.create_login_profile(UserName=user, Password=GOOD)
    assert error_of(exists) == ("EntityAlreadyExists", f"Login Profile for user {user} already exists.", 409)

    iam.update_login_profile(UserName=user, PasswordResetRequired=False)
    assert iam.get_login_profile(UserName=user)["LoginProfile"]["PasswordResetRequired"] is False
    iam.update_login_profile(UserName=user, Password="An0ther-one")

    with pytest.raises(ClientError) as conflict:
        iam.delete_user(UserName=user)
    assert error_of(conflict) == (
        "DeleteConflict",
        "Cannot delete entity, must delete login profile first.",
        409,
    )

    iam.delete_login_profile(UserName=user)
    with pytest.raises(ClientError) as missing:
        iam.get_login_profile(UserName=user)
    assert error_of(missing) == ("NoSuchEntity", f"Login Profile for User {user} cannot be found.", 404)
    with pytest.raises(ClientError) as missing:
        iam.delete_login_profile(UserName=user)
    assert error_of(missing)[0] == "NoSuchEntity"
    iam.delete_user(UserName=user)


@pytest.mark.parametrize("password", ["Sh0rt!", "alllowercase", "lower-and-symbols", "NoDigitsOrSymbols"])
def test_passwords_outside_the_default_policy_are_refused(
    server: RunningServer, user: str, password: str
) -> None:
    with pytest.raises(ClientError) as refused:
        server.client("iam").create_login_profile(UserName=user, Password=password)
    assert error_of(refused) == (
        "PasswordPolicyViolation",
        "Password does not conform to the account password policy.",
        400,
    )


def test_unknown_users_and_a_caller_that_is_not_a_user(server: RunningServer) -> None:
    iam = server.client("iam")
    with pytest.raises(ClientError) as missing:
        iam.create_login_profile(UserName="nobody-here", Password=GOOD)
    assert error_of(missing) == ("NoSuchEntity", "The user with name nobody-here cannot be found.", 404)
    with pytest.raises(ClientError) as root:
        iam.get_login_profile()
    assert error_of(root) == (
        "ValidationError",
        "Must specify userName when calling with non-User credentials",
        400,
    )


def test_a_profile_survives_a_restart(tmp_path: Path) -> None:
    first = start_server(tmp_path / "data")
    try:
        iam = first.client("iam")
        iam.create_user(UserName="kept")
        iam.create_login_profile(UserName="kept", Password=GOOD)
    finally:
        first.stop()
    second = start_server(tmp_path / "data")
    try:
        profile: dict[str, Any] = second.client("iam").get_login_profile(UserName="kept")["LoginProfile"]
        assert profile["UserName"] == "kept"
        assert _console_sign_in(second, "kept", GOOD) == 303  # the password itself was kept
        assert _console_sign_in(second, "kept", "Wr0ng-horse") == 401
    finally:
        second.stop()


def _console_sign_in(server: RunningServer, user: str, password: str) -> int:
    """The status of a password sign-in to the console (303 to the functions when it worked)."""
    import re
    import urllib.error
    import urllib.parse
    import urllib.request

    page = f"{server.endpoint}/_lamina/console/signin/password"
    with urllib.request.urlopen(page, timeout=30) as response:
        cookie = response.headers["Set-Cookie"].split(";")[0]
        token = re.search(r'name="csrf" value="([^"]+)"', response.read().decode())
    assert token is not None
    body = urllib.parse.urlencode(
        {"csrf": token.group(1), "account_id": "000000000000", "user_name": user, "password": password}
    ).encode()
    request = urllib.request.Request(
        page, body, {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, method="POST"
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
