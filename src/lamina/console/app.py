"""The console's pages (under /_lamina/console/): sign in with an access key pair, the functions
list, a function's page with the Test tab. Every page is rendered on the server (Jinja2,
autoescaped); forms post back and work without JavaScript.

Each action calls Lamina's own API in process as the signed-in identity (`InProcessClient`), so
IAM decides exactly as it would for an SDK's call, and its refusal is shown as the API says it.
Pages answer with a strict Content-Security-Policy (same-origin only, no inline script), are not
cached, and cannot be framed; every POST carries the session's CSRF token."""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from jinja2 import Environment, FileSystemLoader, select_autoescape

from lamina.api.in_process import InProcessClient
from lamina.console.event_templates import TEMPLATES, template_text
from lamina.console.sessions import COOKIE, Session, SessionSigner
from lamina.domain.iam.principals import Principal
from lamina.errors import AwsError
from lamina.transport.messages import LeanRequest, LeanResponse

__all__ = ["CONSOLE_PREFIX", "Console"]

CONSOLE_PREFIX = "/_lamina/console"
_HERE = Path(__file__).resolve().parent
_SIGNIN_COOKIE = "lamina_console_signin"
_HTML = "text/html; charset=utf-8"
_SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)
_REPORT = re.compile(
    r"REPORT RequestId: (?P<request_id>\S+)\s+Duration: (?P<duration>[\d.]+) ms\s+"
    r"Billed Duration: (?P<billed>\d+) ms\s+Memory Size: (?P<memory>\d+) MB\s+"
    r"Max Memory Used: (?P<used>\d+) MB(?:\s+Init Duration: (?P<init>[\d.]+) ms)?"
)
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
MAX_EVENT_BYTES = 256 * 1024  # a synchronous invocation's payload limit is 6 MB; a form needs less

# (access key id) → (secret, principal), as SigV4 verification looks keys up
Credentials = Callable[[str], Any]


@dataclass
class _Request:
    lean: LeanRequest
    path: str  # below the prefix, decoded
    cookies: dict[str, str]
    form: dict[str, str]
    query: dict[str, str]


def _parse_pairs(text: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(text, keep_blank_values=True).items()}


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


def _redirect(location: str, *headers: tuple[str, str]) -> LeanResponse:
    return LeanResponse(303, b"", None, (("Location", location), *headers, *_SECURITY_HEADERS))


class Console:
    def __init__(
        self,
        client: InProcessClient,
        credentials: Credentials,
        region: str,
        signer: SessionSigner | None = None,
    ) -> None:
        self._client = client
        self._credentials = credentials
        self._region = region
        self._signer = signer or SessionSigner()
        self._templates = Environment(
            loader=FileSystemLoader(_HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # plumbing ------------------------------------------------------------------------------------
    def _page(self, name: str, status: int = 200, *headers: tuple[str, str], **values: Any) -> LeanResponse:
        body = self._templates.get_template(name).render(prefix=CONSOLE_PREFIX, **values).encode()
        return LeanResponse(status, body, _HTML, (*headers, *_SECURITY_HEADERS))

    def _principal(self, session: Session) -> Principal | None:
        found = self._credentials(session.access_key_id)
        return None if found is None else found.principal

    async def _call(
        self, principal: Principal, service: str, operation: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._client.call(service, operation, params, principal, self._region)

    async def handle(self, lean: LeanRequest) -> LeanResponse:
        """The console's answer to any request under its prefix; never raises."""
        path = unquote(lean.path[len(CONSOLE_PREFIX) :]) or "/"
        form = {}
        if lean.method == "POST" and lean.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            form = _parse_pairs(lean.body.decode("utf-8", "replace"))
        request = _Request(
            lean, path, _cookies(lean.headers.get("cookie", "")), form, _parse_pairs(lean.query_string)
        )
        try:
            return await self._route(request)
        except AwsError as error:
            return self._page(
                "error.html",
                error.status if 400 <= error.status < 600 else 500,
                code=error.code,
                message=error.message,
            )

    async def _route(self, request: _Request) -> LeanResponse:
        method, path = request.lean.method, request.path
        if path.startswith("/static/") and method in ("GET", "HEAD"):
            return self._static(path.removeprefix("/static/"))
        if path == "/signin":
            return self._signin_form() if method == "GET" else await self._signin(request)
        session = self._signer.read(request.cookies.get(COOKIE))
        principal = self._principal(session) if session is not None else None
        if session is None or principal is None:
            return _redirect(f"{CONSOLE_PREFIX}/signin")
        if method == "POST" and not self._signer.csrf_ok(session, request.form.get("csrf")):
            return self._page(
                "error.html",
                403,
                code="InvalidCsrfToken",
                message="The form's security token is missing or wrong: reload the page and try again.",
            )
        context = {"csrf": self._signer.csrf_token(session), "who": principal.arn}
        if path == "/signout" and method == "POST":
            return _redirect(f"{CONSOLE_PREFIX}/signin", _cookie(COOKIE, "", 0))
        if path in ("/", ""):
            return _redirect(f"{CONSOLE_PREFIX}/functions")
        if path == "/functions" and method == "GET":
            return await self._functions(principal, request, context)
        match = re.fullmatch(r"/functions/([^/]+)(/test)?", path)
        if match is not None:
            name = match.group(1)
            if match.group(2) and method == "POST":
                return await self._test(principal, name, request, context)
            if not match.group(2) and method == "GET":
                return await self._function(principal, name, request, context)
        return self._page("error.html", 404, code="NotFound", message="No console page here.", **context)

    def _static(self, name: str) -> LeanResponse:
        path = (_HERE / "static" / name).resolve()
        if path.parent != _HERE / "static" or path.suffix not in _STATIC_TYPES or not path.is_file():
            return LeanResponse(404, b"", None, _SECURITY_HEADERS)
        return LeanResponse(
            200, path.read_bytes(), _STATIC_TYPES[path.suffix], (("Cache-Control", "max-age=3600"),)
        )

    # sign in -------------------------------------------------------------------------------------
    def _signin_form(self, status: int = 200, message: str | None = None) -> LeanResponse:
        token = secrets.token_urlsafe(16)  # double-submitted: the form's field and a cookie
        return self._page(
            "signin.html", status, _cookie(_SIGNIN_COOKIE, token, 600), csrf=token, message=message
        )

    async def _signin(self, request: _Request) -> LeanResponse:
        token = request.form.get("csrf", "")
        if not token or not hmac.compare_digest(token, request.cookies.get(_SIGNIN_COOKIE, "")):
            return self._signin_form(403, "The sign-in form expired: try again.")
        key_id = request.form.get("access_key_id", "").strip()
        secret = request.form.get("secret_access_key", "")
        found = self._credentials(key_id) if key_id and len(key_id) <= 128 else None
        if found is None or not hmac.compare_digest(found.secret.encode(), secret.encode()):
            return self._signin_form(401, "The access key ID or the secret access key is wrong.")
        _, cookie = self._signer.issue(key_id)
        return _redirect(
            f"{CONSOLE_PREFIX}/functions", _cookie(COOKIE, cookie, 12 * 3600), _cookie(_SIGNIN_COOKIE, "", 0)
        )

    # functions -----------------------------------------------------------------------------------
    async def _functions(
        self, principal: Principal, request: _Request, context: dict[str, Any]
    ) -> LeanResponse:
        functions: list[dict[str, Any]] = []
        marker: str | None = None
        error = None
        try:
            while True:
                page = await self._call(
                    principal, "lambda", "ListFunctions", {"Marker": marker} if marker else {}
                )
                functions += page.get("Functions") or []
                marker = page.get("NextMarker")
                if not marker or len(functions) >= 10_000:
                    break
        except AwsError as refused:
            error = refused
        search = request.query.get("q", "").strip()
        if search:
            functions = [item for item in functions if search.lower() in item["FunctionName"].lower()]
        functions.sort(key=lambda item: item["FunctionName"])
        return self._page("functions.html", 200, functions=functions, search=search, error=error, **context)

    async def _function(
        self, principal: Principal, name: str, request: _Request, context: dict[str, Any], **result: Any
    ) -> LeanResponse:
        configuration = await self._call(
            principal, "lambda", "GetFunctionConfiguration", {"FunctionName": name}
        )
        template = request.form.get("template") or request.query.get("template")
        event = result.pop("event", None) or template_text(template or "Hello World")
        return self._page(
            "function.html",
            200,
            function=configuration,
            event=event,
            templates=list(TEMPLATES),
            chosen=template or "Hello World",
            quote=quote,
            **result,
            **context,
        )

    async def _test(
        self, principal: Principal, name: str, request: _Request, context: dict[str, Any]
    ) -> LeanResponse:
        event = request.form.get("event", "")
        if request.form.get("action") == "template":  # "Use template": a new event, nothing invoked
            return await self._function(principal, name, request, context)
        problem = None
        if len(event.encode()) > MAX_EVENT_BYTES:
            problem = f"The event is larger than {MAX_EVENT_BYTES // 1024} KB."
        else:
            try:
                json.loads(event or "null")
            except ValueError as error:
                problem = f"The event is not JSON: {error}"
        if problem is not None:
            return await self._function(principal, name, request, context, event=event, problem=problem)
        try:
            answer = await self._call(
                principal,
                "lambda",
                "Invoke",
                {"FunctionName": name, "Payload": event.encode(), "LogType": "Tail"},
            )
        except AwsError as refused:
            return await self._function(principal, name, request, context, event=event, refused=refused)
        payload = answer.get("Payload") or b""
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
        try:
            shown = json.dumps(json.loads(text), indent=2)
        except ValueError:
            shown = text
        log = base64.b64decode(answer.get("LogResult") or "").decode("utf-8", "replace")
        report = _REPORT.search(log)
        return await self._function(
            principal,
            name,
            request,
            context,
            event=event,
            result=shown,
            failed=answer.get("FunctionError"),
            log=log,
            summary=report.groupdict() if report is not None else None,
        )
