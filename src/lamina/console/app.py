"""The console (under /_lamina/console/): sign-in, sessions, CSRF, static files and the table of
pages. Pages are rendered on the server (Jinja2, autoescaped) and forms post back, so everything
works without JavaScript; the one script (static/tail.js) only streams the live tail.

Each page's action calls Lamina's own API in process as the signed-in identity (visit.py), so IAM
decides exactly as it would for an SDK's call, and its refusal is shown as the API says it. Pages
answer with a strict Content-Security-Policy (same origin only, no inline script or style), are
not cached and cannot be framed; every POST carries the session's CSRF token."""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from lamina.console.pages import (
    code,
    configuration,
    functions,
    monitor,
    overview,
    replay,
    testing,
    triggers,
    versions,
)
from lamina.console.sessions import COOKIE, Session, SessionSigner
from lamina.console.visit import CONSOLE_PREFIX, SECURITY_HEADERS, ConsoleParts, Visit, redirect
from lamina.domain.iam.principals import Principal
from lamina.errors import AwsError
from lamina.identity.password_sign_in import PasswordSignIn
from lamina.transport.messages import LeanRequest, LeanResponse

__all__ = ["CONSOLE_PREFIX", "Console"]

_HERE = Path(__file__).resolve().parent
_log = logging.getLogger("lamina")
_SIGNIN_COOKIE = "lamina_console_signin"
_STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
MAX_FORM_FIELDS = 200
_WRONG_PASSWORD = "Your authentication information is incorrect. Please try again."

# (access key id) → (secret, principal), as SigV4 verification looks keys up
Credentials = Callable[[str], Any]
Handler = Callable[..., Awaitable[LeanResponse]]
_NAME = r"(?P<name>[^/]+)"
# (method, path pattern below the prefix, handler): the named groups are the handler's arguments.
ROUTES: tuple[tuple[str, re.Pattern[str], Handler], ...] = tuple(
    (method, re.compile(pattern), handler)
    for method, pattern, handler in (
        ("GET", r"/functions", functions.index),
        ("GET", r"/functions/\+new", functions.new),
        ("POST", r"/functions/\+new", functions.create),
        ("GET", rf"/functions/{_NAME}", code.show),
        ("GET", rf"/functions/{_NAME}/code", code.show),
        ("POST", rf"/functions/{_NAME}/code", code.deploy),
        ("GET", rf"/functions/{_NAME}/test", testing.show),
        ("POST", rf"/functions/{_NAME}/test", testing.submit),
        ("GET", rf"/functions/{_NAME}/monitor", monitor.show),
        ("GET", rf"/functions/{_NAME}/monitor/stream", monitor.stream),
        ("GET", rf"/functions/{_NAME}/monitor/tail", monitor.tail),
        ("GET", rf"/functions/{_NAME}/monitor/tail\.json", monitor.tail_json),
        ("GET", rf"/functions/{_NAME}/configuration", configuration.show),
        ("POST", rf"/functions/{_NAME}/configuration/(?P<section>[a-z_]+)", configuration.update),
        ("POST", rf"/functions/{_NAME}/delete", functions.delete),
        ("GET", rf"/functions/{_NAME}/triggers", triggers.show),
        ("GET", rf"/functions/{_NAME}/versions", versions.show),
        ("POST", rf"/functions/{_NAME}/versions/publish", versions.publish),
        ("POST", rf"/functions/{_NAME}/versions/alias", versions.alias),
        ("GET", rf"/functions/{_NAME}/replay", replay.show),
        ("POST", rf"/functions/{_NAME}/replay", replay.act),
        ("POST", rf"/functions/{_NAME}/replay/redrive", replay.redrive),
        ("GET", r"/overview", overview.show),
        ("POST", r"/overview/calculator", overview.calculate),
    )
)


def _parse_pairs(text: str) -> dict[str, str]:
    pairs = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    return {key: values[-1] for key, values in pairs.items()}


def _cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header: no cookies
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _cookie(name: str, value: str, max_age: int) -> tuple[str, str]:
    return (
        "Set-Cookie",
        f"{name}={value}; Path={CONSOLE_PREFIX}/; HttpOnly; SameSite=Strict; Max-Age={max_age}",
    )


class Console:
    def __init__(
        self,
        parts: ConsoleParts,
        credentials: Credentials,
        passwords: PasswordSignIn | None = None,
        signer: SessionSigner | None = None,
    ) -> None:
        """`credentials`: access keys as SigV4 looks them up; `passwords`: IAM users' login
        profiles (None: password sign-in is not offered)."""
        self._parts = parts
        self._credentials = credentials
        self._passwords = passwords
        self._signer = signer or SessionSigner()
        self._renderer = parts.renderer

    def _credential(self, key_id: str) -> Any:
        """A key's credential while it is valid: known, active, and (temporary) not expired."""
        found = self._credentials(key_id) if key_id and len(key_id) <= 128 else None
        if found is None or (found.expires is not None and found.expires < time.time()):
            return None
        return found

    def _principal(self, session: Session) -> Principal | None:
        kind, _, rest = session.subject.partition(":")
        if kind == "user":
            return self._passwords.principal_of(rest) if self._passwords is not None else None
        found = self._credential(rest) if kind == "key" else None
        return None if found is None else found.principal

    async def handle(self, lean: LeanRequest) -> LeanResponse:
        """The console's answer to any request under its prefix; never raises."""
        path = unquote(lean.path[len(CONSOLE_PREFIX) :]) or "/"
        form: dict[str, str] = {}
        query: dict[str, str] = {}
        try:
            if lean.method == "POST" and lean.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"
            ):
                form = _parse_pairs(lean.body.decode("utf-8", "replace"))
            query = _parse_pairs(lean.query_string)
        except ValueError:  # more fields than any console form has
            return self._renderer.page(
                "error.html", 400, code="BadRequest", message="The form has too many fields."
            )
        cookies = _cookies(lean.headers.get("cookie", ""))
        try:
            return await self._route(lean.method, path, cookies, form, query)
        except AwsError as error:
            return self._renderer.page(
                "error.html",
                error.status if 400 <= error.status < 600 else 500,
                code=error.code,
                message=error.message,
            )
        except Exception:  # a bug: said as AWS says its own, logged, and the server goes on
            _log.exception("the console failed to answer %s %s", lean.method, lean.path)
            return self._renderer.page(
                "error.html",
                500,
                code="InternalFailure",
                message="The console could not answer this request.",
            )

    async def _route(
        self, method: str, path: str, cookies: dict[str, str], form: dict[str, str], query: dict[str, str]
    ) -> LeanResponse:
        if path.startswith("/static/") and method in ("GET", "HEAD"):
            return self._static(path.removeprefix("/static/"))
        if path == "/signin":
            return self._signin_form() if method == "GET" else self._signin(cookies, form)
        if path == "/signin/password" and self._passwords is not None:
            return self._password_form() if method == "GET" else await self._password_signin(cookies, form)
        session = self._signer.read(cookies.get(COOKIE))
        principal = self._principal(session) if session is not None else None
        if session is None or principal is None:
            return redirect("/signin")
        if method == "POST" and not self._signer.csrf_ok(session, form.get("csrf")):
            return self._renderer.page(
                "error.html",
                403,
                code="InvalidCsrfToken",
                message="The form's security token is missing or wrong: reload the page and try again.",
            )
        visit = Visit(self._parts, principal, method, path, form, query, self._signer.csrf_token(session))
        if path == "/signout" and method == "POST":
            self._signer.revoke(session)
            return redirect("/signin", _cookie(COOKIE, "", 0))
        if path in ("/", ""):
            return redirect("/functions")
        for route_method, pattern, handler in ROUTES:
            match = pattern.fullmatch(path)
            if match is not None and route_method == method:
                return await handler(visit, **match.groupdict())
        return visit.page("error.html", 404, code="NotFound", message="No console page here.")

    def _static(self, name: str) -> LeanResponse:
        if "\x00" in name or "/" in name or "\\" in name:
            return LeanResponse(404, b"", None, SECURITY_HEADERS)
        path = (_HERE / "static" / name).resolve()
        if path.parent != _HERE / "static" or path.suffix not in _STATIC_TYPES or not path.is_file():
            return LeanResponse(404, b"", None, SECURITY_HEADERS)
        return LeanResponse(
            200,
            path.read_bytes(),
            _STATIC_TYPES[path.suffix],
            (("Cache-Control", "max-age=3600"), ("X-Content-Type-Options", "nosniff")),
        )

    # sign in -------------------------------------------------------------------------------------
    def _signin_form(self, status: int = 200, message: str | None = None) -> LeanResponse:
        token = secrets.token_urlsafe(16)  # double-submitted: the form's field and a cookie
        return self._renderer.page(
            "signin.html", status, _cookie(_SIGNIN_COOKIE, token, 600), csrf=token, message=message
        )

    def _signin(self, cookies: dict[str, str], form: dict[str, str]) -> LeanResponse:
        token = form.get("csrf", "")
        if not token or not hmac.compare_digest(token.encode(), cookies.get(_SIGNIN_COOKIE, "").encode()):
            return self._signin_form(403, "The sign-in form expired: try again.")
        key_id = form.get("access_key_id", "").strip()
        secret = form.get("secret_access_key", "")
        found = self._credential(key_id)
        if found is None or not hmac.compare_digest(found.secret.encode(), secret.encode()):
            return self._signin_form(401, "The access key ID or the secret access key is wrong.")
        if found.session_token is not None and not hmac.compare_digest(
            found.session_token.encode(), form.get("session_token", "").strip().encode()
        ):  # temporary credentials (STS) sign in only with their session token, as SigV4 needs it
            return self._signin_form(401, "Temporary credentials need their session token.")
        return self._signed_in(f"key:{key_id}")

    def _signed_in(self, subject: str) -> LeanResponse:
        _, cookie = self._signer.issue(subject)
        return redirect("/functions", _cookie(COOKIE, cookie, 12 * 3600), _cookie(_SIGNIN_COOKIE, "", 0))

    def _password_form(
        self,
        status: int = 200,
        message: str | None = None,
        form: dict[str, str] | None = None,
        reset: bool = False,
    ) -> LeanResponse:
        token = secrets.token_urlsafe(16)
        return self._renderer.page(
            "signin_password.html",
            status,
            _cookie(_SIGNIN_COOKIE, token, 600),
            csrf=token,
            message=message,
            form=form or {},
            reset=reset,
        )

    async def _password_signin(self, cookies: dict[str, str], form: dict[str, str]) -> LeanResponse:
        """Account ID, user name and password; a password that must be reset asks for a new one
        (the form comes back with "New password") before the session starts."""
        assert self._passwords is not None
        token = form.get("csrf", "")
        if not token or not hmac.compare_digest(token.encode(), cookies.get(_SIGNIN_COOKIE, "").encode()):
            return self._password_form(403, "The sign-in form expired: try again.")
        account_id = form.get("account_id", "").strip()
        user_name = form.get("user_name", "").strip()
        password = form.get("password", "")
        kept = {"account_id": account_id, "user_name": user_name}
        if not re.fullmatch(r"\d{12}", account_id) or not 0 < len(user_name) <= 64 or len(password) > 128:
            return self._password_form(401, _WRONG_PASSWORD, kept)
        if "new_password" in form:
            problem = await self._passwords.choose_new_password(
                account_id, user_name, password, form["new_password"]
            )
            if problem is not None:
                return self._password_form(400, problem, kept, reset=True)
        signed_in = await self._passwords.check(account_id, user_name, form.get("new_password") or password)
        if signed_in is None:
            return self._password_form(401, _WRONG_PASSWORD, kept)
        if signed_in.password_reset_required:
            return self._password_form(200, "You must choose a new password.", kept, reset=True)
        return self._signed_in(f"user:{signed_in.subject}")
