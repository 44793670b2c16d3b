"""Code blobs sealed at rest, the same way by every blob store adapter.

Each blob is AES-256-GCM encrypted with the server's code key and its digest as associated data, so
a blob copied under another name fails to open; the plaintext digest is checked again on every
load. Whoever can read the store (a disk, a database) learns nothing of the code without the key.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lamina.store.ports import BlobIntegrityError

_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEX = frozenset("0123456789abcdef")


def check_digest_name(sha256_hex: str) -> None:
    """A blob is named by its lower-case hex SHA-256; anything else names no blob (`KeyError`)."""
    if len(sha256_hex) != 64 or not _HEX.issuperset(sha256_hex):
        raise KeyError(sha256_hex)


class BlobSealer:
    def __init__(self, key: bytes) -> None:
        self._cipher = AESGCM(key)

    def seal(self, sha256_hex: str, data: bytes) -> bytes:
        if hashlib.sha256(data).hexdigest() != sha256_hex:
            raise BlobIntegrityError(f"data does not match digest {sha256_hex}")
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._cipher.encrypt(nonce, data, sha256_hex.encode())

    def open(self, sha256_hex: str, sealed: bytes) -> bytes:
        if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
            raise BlobIntegrityError(f"blob {sha256_hex} is truncated")
        try:
            data = self._cipher.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], sha256_hex.encode())
        except InvalidTag as exc:
            raise BlobIntegrityError(f"blob {sha256_hex} failed authentication") from exc
        if hashlib.sha256(data).hexdigest() != sha256_hex:
            raise BlobIntegrityError(f"blob {sha256_hex} does not match its digest")
        return data
