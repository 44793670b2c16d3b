"""HTTP endpoint URIs of integrations, checked when they are set: what cannot be requested is
refused with BadRequestException, instead of failing every request later. Placeholders stay
(`{proxy}`, `${stageVariables.host}`): they are filled in per request."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["check_http_uri"]

_PLACEHOLDER = re.compile(r"\$\{stageVariables\.[A-Za-z0-9_]+\}|\{[A-Za-z0-9._\-]+\+?\}")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")  # controls and spaces: a URI never holds them raw


def check_http_uri(uri: str) -> str | None:
    """Why `uri` is not an HTTP(S) URL an integration can call, or None when it is."""
    sample = _PLACEHOLDER.sub("x", uri)
    if _FORBIDDEN.search(sample):
        return "Invalid HTTP endpoint specified for URI: it contains spaces or control characters"
    try:
        parts = urlsplit(sample)
        port = parts.port  # raises for a port out of range
    except ValueError as error:
        return f"Invalid HTTP endpoint specified for URI: {error}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Invalid HTTP endpoint specified for URI"
    if port == 0:
        return "Invalid HTTP endpoint specified for URI: port 0"
    return None
