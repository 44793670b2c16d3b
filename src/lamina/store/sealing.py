"""Secrets at rest (IAM secret access keys): sealed with AES-GCM under the server's key, bound to
the entity they belong to, so a stored copy alone gives nothing away and cannot be moved to another
entity. Every identity store adapter seals the same way."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


class SecretSealer:
    def __init__(self, key: bytes) -> None:
        self._cipher = AESGCM(key)

    def seal(self, secret: str | None, owner: str) -> bytes | None:
        if secret is None:
            return None
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._cipher.encrypt(nonce, secret.encode(), owner.encode())

    def open(self, sealed: bytes | None, owner: str) -> str | None:
        if sealed is None:
            return None
        sealed = bytes(sealed)
        return self._cipher.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], owner.encode()).decode()
