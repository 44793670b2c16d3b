"""Calls to HTTP integration endpoints (HTTP and HTTP_PROXY), on threads of their own so that a
slow endpoint never holds the event loop's default executor (which file and store work share).

Redirects are returned, not followed, and a response body is read up to API Gateway's 10 MB
payload limit, as API Gateway does."""

from __future__ import annotations

import asyncio
import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from lamina.apigateway.rest_integrations import EndpointResponse, IntegrationError

__all__ = ["HttpEndpoints"]

MAX_RESPONSE_BYTES = 10 * 1024 * 1024
FETCH_TIMEOUT_S = 5.0
_THREADS = 16


class HttpEndpoints:
    def __init__(self, threads: int = _THREADS) -> None:
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="apigateway-http")

    async def __call__(
        self, method: str, url: str, headers: dict[str, str], body: bytes, timeout_s: float
    ) -> EndpointResponse:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, _request, method, url, headers, body, timeout_s)

    async def fetch_json(self, url: str) -> Any:
        """A JSON document (an issuer's OpenID configuration or JWKS); raises IntegrationError."""
        response = await self("GET", url, {"accept": "application/json"}, b"", FETCH_TIMEOUT_S)
        if response.status != 200:
            raise IntegrationError(500, "Internal Server Error", f"{url} answered {response.status}")
        try:
            return json.loads(response.body)
        except ValueError:
            raise IntegrationError(500, "Internal Server Error", f"{url} did not answer JSON") from None

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)


def _request(
    method: str, url: str, headers: dict[str, str], body: bytes, timeout_s: float
) -> EndpointResponse:
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL with a host")
        connection_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_type(parts.hostname, parts.port, timeout=timeout_s)
    except ValueError as error:
        raise IntegrationError(
            500,
            "Internal server error",
            f"Execution failed due to configuration error: Invalid endpoint address {url!r} ({error})",
        ) from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method, target, body=body or None, headers=headers)
        response = connection.getresponse()
        data = response.read(MAX_RESPONSE_BYTES + 1)
        if len(data) > MAX_RESPONSE_BYTES:
            raise IntegrationError(
                502, "Internal server error", "Execution failed: the endpoint's response is larger than 10 MB"
            )
        return EndpointResponse(response.status, dict(response.getheaders()), data)
    except TimeoutError:
        raise IntegrationError(
            504, "Endpoint request timed out", "Execution failed due to a timeout error"
        ) from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise IntegrationError(
            500, "Internal server error", f"Execution failed due to configuration error: {error}"
        ) from None
    finally:
        connection.close()
