"""TemplateURL: where in S3 (Lamina's buckets) a template is. The forms AWS's documentation and
tools use are read: virtual-hosted (`https://BUCKET.s3.amazonaws.com/KEY`, with a region too),
path-style (`https://s3.amazonaws.com/BUCKET/KEY`), and Lamina's own endpoint, path-style
(`http://127.0.0.1:5264/BUCKET/KEY`) or virtual-hosted (`http://BUCKET.s3.localhost:5264/KEY`)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

__all__ = ["bucket_and_key"]

_VIRTUAL = re.compile(r"(?P<bucket>[a-z0-9.\-]+)\.s3(?:[.-](?:[a-z0-9-]+))?\.(?:amazonaws\.com|localhost)")
_PATH_HOSTS = re.compile(r"s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com|localhost|127\.0\.0\.1|\[::1\]|[a-z0-9.\-]+")


def bucket_and_key(url: str) -> tuple[str, str] | None:
    """(bucket, key) of a template URL; None when it names no object."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    path = unquote(parts.path)
    virtual = _VIRTUAL.fullmatch(host)
    if virtual is not None:
        key = path.lstrip("/")
        return (virtual.group("bucket"), key) if key else None
    if _PATH_HOSTS.fullmatch(host):
        bucket, _, key = path.lstrip("/").partition("/")
        return (bucket, key) if bucket and key else None
    return None
