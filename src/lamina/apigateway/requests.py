"""One request to an API's endpoint, as the server received it, and the parameters it carries."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from lamina.transport.http11 import LeanRequest

__all__ = ["HOST_MARKER", "ApiRequest", "api_request", "body_text", "is_binary"]

HOST_MARKER = ".execute-api."


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    path: str  # after the stage (REST APIs and named HTTP API stages), "/" at least
    raw_query: str
    headers: dict[str, str]  # lower-case names, repeats joined with ","
    body: bytes
    source_ip: str
    request_id: str
    time: datetime
    domain: str  # the Host the caller used

    @property
    def multi_query(self) -> dict[str, list[str]]:
        values: dict[str, list[str]] = {}
        for name, value in parse_qsl(self.raw_query, keep_blank_values=True):
            values.setdefault(name, []).append(value)
        return values

    @property
    def query(self) -> dict[str, str]:
        """The last value of each query parameter (a REST API's queryStringParameters)."""
        return {name: values[-1] for name, values in self.multi_query.items()}

    @property
    def user_agent(self) -> str:
        return self.headers.get("user-agent", "")

    @property
    def request_time(self) -> str:
        return self.time.strftime("%d/%b/%Y:%H:%M:%S +0000")

    @property
    def epoch_ms(self) -> int:
        return int(self.time.timestamp() * 1000)


def is_binary(content_type: str, binary_media_types: list[str]) -> bool:
    """Whether a body of this type is binary to an API with these binaryMediaTypes (`*/*` and
    `image/*` wildcards included)."""
    kind = content_type.split(";")[0].strip().lower()
    if not kind:
        return False
    major = kind.split("/")[0]
    for pattern in binary_media_types:
        pattern = pattern.strip().lower()
        if pattern in ("*/*", kind) or pattern == f"{major}/*":
            return True
    return False


def body_text(body: bytes, binary: bool) -> tuple[str, bool]:
    """(text, isBase64Encoded) of a body in a proxy event."""
    if binary:
        return base64.b64encode(body).decode(), True
    return body.decode("utf-8", "replace"), False


def api_request(lean: LeanRequest, path: str, request_id: str, api_id: str, region: str) -> ApiRequest:
    """The request as an API sees it: `path` after the stage, the domain the caller named (or the
    API's name on AWS when it came by Lamina's path form)."""
    host = lean.headers.get("host", "")
    domain = host.split(":")[0] if HOST_MARKER in host else f"{api_id}.execute-api.{region}.amazonaws.com"
    peer = lean.peer[0] if lean.peer else ""
    return ApiRequest(
        lean.method,
        path,
        lean.query_string,
        lean.headers,
        lean.body,
        peer,
        request_id,
        datetime.now(UTC),
        domain,
    )
