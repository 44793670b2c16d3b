"""Per-request facts the facades need besides the decoded parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lamina.config import DEFAULT_REGION
from lamina.domain.iam.principals import Principal
from lamina.protocol.http import HttpRequest


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    request: HttpRequest
    access_key_id: str
    principal: Principal  # who signed the request
    source_ip: str = ""  # the client's address (aws:SourceIp)
    region: str = DEFAULT_REGION  # the region the request was signed for: whose state it reaches

    @property
    def base_url(self) -> str:
        """The endpoint as the caller addressed it, for URLs handed back (e.g. Code.Location)."""
        host = self.request.headers.get("host", "127.0.0.1")
        return f"http://{host}"


@dataclass(frozen=True, slots=True)
class OperationResult:
    """An operation's output keyed by output-shape member names; `status` overrides the model's."""

    output: dict[str, Any]
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
