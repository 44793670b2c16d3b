"""Opaque NextToken paging over a sorted list, for the APIs whose tokens are opaque (EventBridge,
Scheduler): a token is a position, base64 so that it looks like what it is to a client."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from lamina.errors import AwsError

__all__ = ["page"]

T = TypeVar("T")
_PREFIX = "lamina"


def page(
    items: Sequence[T], token: str | None, size: int, invalid: Callable[[], AwsError]
) -> tuple[list[T], dict[str, Any]]:
    """One page from `token` (None: the first), and `{"NextToken": …}` when more follow;
    `invalid()` is raised for a token this did not make."""
    start = 0
    if token:
        try:
            prefix, _, index = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
            start = int(index)
        except (ValueError, UnicodeDecodeError):
            raise invalid() from None
        if prefix != _PREFIX or not 0 <= start <= len(items):
            raise invalid()
    output: dict[str, Any] = {}
    if start + size < len(items):
        output["NextToken"] = base64.urlsafe_b64encode(f"{_PREFIX}:{start + size}".encode()).decode()
    return list(items[start : start + size]), output
