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
