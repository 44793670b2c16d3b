"""The IAM check of a method or route with authorization AWS_IAM, as the endpoints call it (the
API layer implements it: SigV4 verification and policy evaluation live there)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lamina.apigateway.execution_log import ExecutionLog
from lamina.domain.function_urls import UrlResponse
from lamina.transport.http11 import LeanRequest

__all__ = ["IamCheck"]

# (the method's or route's ARN, the API's account, the API's resource policy (JSON) or None, the
# request, its execution log) → (the refusal, or None to go on; the caller's identity fields).
IamCheck = Callable[
    [str, str, str | None, LeanRequest, ExecutionLog], Awaitable[tuple[UrlResponse | None, dict[str, Any]]]
]
