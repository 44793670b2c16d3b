"""Lamina's own routes: /_lamina/health, code downloads, the fake clock, SNS's links, and Prometheus's /metrics.
No SigV4 here."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from lamina import __version__
from lamina.api.code_urls import CODE_PATH_PREFIX, CodeUrlSigner
from lamina.clock import ManualClock
from lamina.protocol.http import HttpRequest, HttpResponse


def _json(status: int, document: Any) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], json.dumps(document).encode())


# Answered by whichever process receives it (every worker of --workers): the cheapest request,
# for load balancers' liveness checks and the benchmark's echo baseline. Health is the primary's.
PING_PATH = "/_lamina/ping"


class InternalRoutes:
    def __init__(
        self,
        health: Callable[[], Awaitable[dict[str, Any]]],
        code_urls: CodeUrlSigner,
        load_code: Callable[[str], Awaitable[bytes]],
        clock: ManualClock | None = None,
        clock_moved: Callable[[], Awaitable[None]] | None = None,
        prometheus: Callable[[], Awaitable[str]] | None = None,
        links: Callable[[HttpRequest], Awaitable[HttpResponse | None]] | None = None,
    ) -> None:
        """`clock`: the fake clock `POST /_lamina/clock {"advanceSeconds": N}` moves (tests only);
        `clock_moved()` runs before that call answers (alarms are evaluated at the new time);
        `links(request)`: the answer of an embedded service's unsigned links (SNS's), or None."""
        self._links = links
        self._clock = clock
        self._clock_moved = clock_moved
        self._prometheus = prometheus
        self._health = health
        self._code_urls = code_urls
        self._load_code = load_code

    async def handle(self, request: HttpRequest) -> HttpResponse:
        path = request.raw_path
        if path == PING_PATH and request.method in ("GET", "HEAD"):
            return _json(200, {"status": "ok"})
        if path == "/_lamina/health" and request.method in ("GET", "HEAD"):
            return _json(200, {"status": "ok", "version": __version__, **(await self._health())})
        if path == "/metrics" and request.method == "GET" and self._prometheus is not None:
            text = (await self._prometheus()).encode()
            return HttpResponse(200, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], text)
        if path == "/_lamina/clock" and self._clock is not None:
            response = self._move_clock(request)
            if request.method == "POST" and response.status == 200 and self._clock_moved is not None:
                await self._clock_moved()
            return response
        if self._links is not None and (linked := await self._links(request)) is not None:
            return linked
        if path.startswith(CODE_PATH_PREFIX) and request.method == "GET":
            return await self._code(path[len(CODE_PATH_PREFIX) :], dict(request.query))
        return _json(404, {"message": f"Not found: {path}"})

    def _move_clock(self, request: HttpRequest) -> HttpResponse:
        assert self._clock is not None
        if request.method == "POST":
            try:
                seconds = float(json.loads(request.body or b"{}").get("advanceSeconds", 0))
                self._clock.advance(seconds)
            except (ValueError, TypeError, AttributeError) as error:
                return _json(400, {"message": f"Bad clock request: {error}"})
        return _json(200, {"now": self._clock.now()})

    async def _code(self, name: str, query: dict[str, str]) -> HttpResponse:
        sha256_hex = name.removesuffix(".zip")
        if not self._code_urls.verify(sha256_hex, query.get("Expires", ""), query.get("Signature", "")):
            return HttpResponse(
                403,
                [("Content-Type", "application/xml")],
                b"<Error><Code>AccessDenied</Code><Message>Request has expired or the signature "
                b"does not match</Message></Error>",
            )
        try:
            data = await self._load_code(sha256_hex)
        except KeyError:
            return _json(404, {"message": "No such code package"})
        return HttpResponse(200, [("Content-Type", "application/zip")], data)
