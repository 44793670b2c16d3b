"""The console's sign-in rules, driven through its handler with a directory of keys: temporary
credentials need their token and stop working when they expire, also for a session made earlier."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

from lamina.api.in_process import InProcessClient
from lamina.console.app import Console
from lamina.console.visit import ConsoleParts, Renderer
from lamina.domain.iam.principals import Principal
from lamina.identity.directory import Credential
from lamina.transport.messages import LeanRequest, LeanResponse

PRINCIPAL = Principal(
    "assumed-role", "000000000000", "arn:aws:sts::000000000000:assumed-role/r/s", "AROA:s", "s"
)


def _console(credentials: dict[str, Credential]) -> Console:
    return Console(ConsoleParts(InProcessClient({}), "us-east-1", Renderer()), credentials.get)


def _headers(response: LeanResponse) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in response.headers:
        found.setdefault(name.lower(), []).append(value)
    return found


def _sign_in(console: Console, key: str, secret: str, token: str = "") -> LeanResponse:
    form = asyncio.run(console.handle(LeanRequest("GET", "/_lamina/console/signin")))
    cookie = _headers(form)["set-cookie"][0].split(";")[0]
    csrf = cookie.split("=", 1)[1]
    body = urlencode(
        {"csrf": csrf, "access_key_id": key, "secret_access_key": secret, "session_token": token}
    )
    request = LeanRequest(
        "POST",
        "/_lamina/console/signin",
        headers={"cookie": cookie, "content-type": "application/x-www-form-urlencoded"},
        body=body.encode(),
    )
    return asyncio.run(console.handle(request))


def test_temporary_credentials_need_their_token_and_expire() -> None:
    live = Credential("s3cret", PRINCIPAL, "the-token", time.time() + 3600)
    expired = Credential("s3cret", PRINCIPAL, "the-token", time.time() - 1)
    credentials = {"ASIALIVE": live, "ASIAOLD": expired}
    console = _console(credentials)
    assert _sign_in(console, "ASIALIVE", "s3cret").status == 401
    assert _sign_in(console, "ASIAOLD", "s3cret", "the-token").status == 401
    signed_in = _sign_in(console, "ASIALIVE", "s3cret", "the-token")
    assert signed_in.status == 303
    session = next(
        value for value in _headers(signed_in)["set-cookie"] if value.startswith("lamina_console=")
    )
    page = LeanRequest("GET", "/_lamina/console/no-such-page", headers={"cookie": session.split(";")[0]})
    assert asyncio.run(console.handle(page)).status == 404  # signed in: the page is looked for
    credentials["ASIALIVE"] = Credential("s3cret", PRINCIPAL, "the-token", time.time() - 1)  # it expires
    assert asyncio.run(console.handle(page)).status == 303  # back to the sign-in
