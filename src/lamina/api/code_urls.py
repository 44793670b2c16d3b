"""Time-limited download links for deployment packages (GetFunction's Code.Location).

AWS hands out a presigned S3 URL valid for 10 minutes; Lamina signs its own path with HMAC so
the link works without credentials and only for that package and that window.
"""

from __future__ import annotations

import hashlib
import hmac
import time

CODE_PATH_PREFIX = "/_lamina/code/"
URL_LIFETIME_SECONDS = 600


class CodeUrlSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _signature(self, sha256_hex: str, expires: int) -> str:
        return hmac.new(self._key, f"{sha256_hex}:{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, base_url: str, sha256_hex: str, now: float | None = None) -> str:
        expires = int((now or time.time()) + URL_LIFETIME_SECONDS)
        return f"{base_url}{CODE_PATH_PREFIX}{sha256_hex}.zip?Expires={expires}&Signature={self._signature(sha256_hex, expires)}"

    def verify(self, sha256_hex: str, expires: str, signature: str, now: float | None = None) -> bool:
        try:
            deadline = int(expires)
        except ValueError:
            return False
        if deadline < (now or time.time()):
            return False
        return hmac.compare_digest(self._signature(sha256_hex, deadline), signature)
