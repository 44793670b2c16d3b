"""One signed-in request to the console and the means to answer it: who is asking, what the form
and the query carry, API calls made as that identity, and pages rendered with the session's CSRF
token. Page handlers (pages/) take a Visit and return a response, so none of them deals with
cookies, tokens or templates' plumbing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape

from lamina.api.in_process import InProcessClient
from lamina.domain.function_limits import FunctionLimits
from lamina.domain.iam.principals import Principal
from lamina.store.ports import RecordingStore
from lamina.store.resource_ports import ResourceStore
from lamina.transport.messages import LeanResponse

__all__ = ["CONSOLE_PREFIX", "SECURITY_HEADERS", "ConsoleParts", "Renderer", "Visit", "redirect"]

CONSOLE_PREFIX = "/_lamina/console"
_HERE = Path(__file__).resolve().parent
_HTML = "text/html; charset=utf-8"
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)


def utc_time(moment: float | None) -> str:
    """Epoch seconds as the console writes times: `2026-12-06 01:51:00` (UTC)."""
    if not moment:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(moment))


def redirect(location: str, *headers: tuple[str, str]) -> LeanResponse:
    """A 303 to a console path (or any absolute path), so a reload does not post the form again."""
    target = location if location.startswith(CONSOLE_PREFIX) else f"{CONSOLE_PREFIX}{location}"
    return LeanResponse(303, b"", None, (("Location", target), *headers, *SECURITY_HEADERS))


class Renderer:
    """The console's Jinja2 templates, autoescaped, with the helpers every page uses."""

    def __init__(self) -> None:
        self._templates = Environment(
            loader=FileSystemLoader(_HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.globals.update(prefix=CONSOLE_PREFIX, quote=lambda text: quote(str(text), safe=""))
        self._templates.filters["utc"] = utc_time

    def page(self, name: str, status: int = 200, *headers: tuple[str, str], **values: Any) -> LeanResponse:
        body = self._templates.get_template(name).render(**values).encode()
        return LeanResponse(status, body, _HTML, (*headers, *SECURITY_HEADERS))


@dataclass(frozen=True)
class ConsoleParts:
    """What pages reach beyond the API: each piece is read-only or authorised by an API call first."""

    client: InProcessClient
    region: str
    renderer: Renderer
    # A package's bytes by its SHA-256 (hex), read only after GetFunction allowed the caller to see it.
    code_package: Callable[[str], Awaitable[bytes]] | None = None
    # This month's usage of an account's region: {function: (requests, MB-ms)}, from the billing meter.
    month_usage: Callable[[str, str], Awaitable[dict[str, tuple[int, int]]]] | None = None
    # Where the console keeps its own documents (saved test events); None on a server without one.
    documents: ResourceStore | None = None
    # An account-region's recorded invocations, what was recorded so far written first.
    recordings: Callable[[str, str], Awaitable[RecordingStore | None]] | None = None
    # How far an account's function configurations may go (the form's hints name the ceilings).
    function_limits: Callable[[str], FunctionLimits] = lambda _account: FunctionLimits()


@dataclass
class Visit:
    parts: ConsoleParts
    principal: Principal
    method: str
    path: str  # below the console's prefix, decoded
    form: dict[str, str]
    query: dict[str, str]
    csrf: str

    @property
    def account_id(self) -> str:
        return self.principal.account

    async def call(
        self, service: str, operation: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """`operation` of `service` as the signed-in identity: IAM decides as for an SDK's call."""
        return await self.parts.client.call(
            service, operation, params or {}, self.principal, self.parts.region
        )

    async def all_pages(
        self, service: str, operation: str, params: dict[str, Any], key: str, limit: int = 10_000
    ) -> list[dict[str, Any]]:
        """Every item a Marker-paged list operation returns under `key` (at most about `limit`)."""
        found: list[dict[str, Any]] = []
        marker: str | None = None
        while True:
            page = await self.call(service, operation, {**params, "Marker": marker} if marker else params)
            found += page.get(key) or []
            marker = page.get("NextMarker")
            if not marker or len(found) >= limit:
                return found

    @staticmethod
    def quoted(text: str) -> str:
        """`text` as one path segment or query value."""
        return quote(text, safe="")

    def page(self, name: str, status: int = 200, **values: Any) -> LeanResponse:
        return self.parts.renderer.page(name, status, csrf=self.csrf, who=self.principal.arn, **values)
