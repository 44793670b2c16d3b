"""Driving the web console in Debian's Chromium with Playwright: the browser's flags, signing in,
screenshots kept as test artifacts, and raw HTTP for what a browser would not send."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import RunningServer

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "console"
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (scripts/test installs it)"
)
# Chromium as root, headless, with nothing reaching out to Google's hosts (refused here).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def shot(page: Any, name: str) -> None:
    """A full-page screenshot in .artifacts/console/NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, server: RunningServer, key: str, secret: str, token: str | None = None) -> None:
    page.goto(f"{server.endpoint}/_lamina/console/")
    page.get_by_label("Access key ID").fill(key)
    page.get_by_label("Secret access key").fill(secret)
    if token is not None:
        page.get_by_label("Session token (temporary credentials only)").fill(token)
    page.get_by_role("button", name="Sign in").click()


def open_tab(page: Any, server: RunningServer, function: str, tab: str) -> None:
    """A function's page, then one of its tabs by its label."""
    page.goto(f"{server.endpoint}/_lamina/console/functions/{function}")
    page.get_by_role("navigation", name="Function").get_by_role("link", name=tab, exact=True).click()


def raw(
    server: RunningServer, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """(status, body) of one request, redirects not followed."""
    request = urllib.request.Request(
        f"{server.endpoint}{path}", data=body or None, method=method, headers=headers or {}
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


class RawSession:
    """A console session driven without a browser: what a script (or an attacker holding a
    session) sends, forms and all, redirects not followed."""

    def __init__(self, server: RunningServer, cookie: str) -> None:
        self.server = server
        self.cookie = cookie

    @classmethod
    def sign_in(cls, server: RunningServer, key: str, secret: str) -> RawSession:
        import re

        status, body, headers = _exchange(server, "GET", "/_lamina/console/signin")
        token = re.search(r'name="csrf" value="([^"]+)"', body)
        assert token is not None
        form = {"csrf": token.group(1), "access_key_id": key, "secret_access_key": secret}
        status, body, headers = _exchange(
            server, "POST", "/_lamina/console/signin", _form(form), headers["set-cookie"].split(";")[0]
        )
        assert status == 303, body
        cookie = next(value for value in headers.get_all("set-cookie") if value.startswith("lamina_console="))
        return cls(server, cookie.split(";")[0])

    def csrf(self, path: str = "/_lamina/console/functions") -> str:
        import re

        _, body, _ = _exchange(self.server, "GET", path, cookie=self.cookie)
        token = re.search(r'name="csrf" value="([^"]+)"', body)
        assert token is not None, body[:500]
        return token.group(1)

    def get(self, path: str) -> tuple[int, str]:
        status, body, _ = _exchange(self.server, "GET", path, cookie=self.cookie)
        return status, body

    def post(self, path: str, form: dict[str, str] | bytes) -> tuple[int, str]:
        body = form if isinstance(form, bytes) else _form(form)
        status, text, _ = _exchange(self.server, "POST", path, body, self.cookie)
        return status, text


def _form(fields: dict[str, str]) -> bytes:
    import urllib.parse

    return urllib.parse.urlencode(fields).encode()


def _exchange(
    server: RunningServer, method: str, path: str, body: bytes = b"", cookie: str = ""
) -> tuple[int, str, Any]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {}
    if cookie:
        headers["Cookie"] = cookie
    request = urllib.request.Request(
        f"{server.endpoint}{path}", data=body or None, method=method, headers=headers
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=60) as response:
            return response.status, response.read().decode("utf-8", "replace"), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace"), error.headers
