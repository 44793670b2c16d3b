"""Encrypted, content-addressed blobs on local disk.

Each blob is AES-256-GCM encrypted with the data directory's key, with its digest as associated
data, so a blob copied under another name fails to decrypt; the plaintext digest is re-checked
on every load.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lamina.store.ports import BlobIntegrityError

_NONCE_BYTES = 12


class FilesystemBlobStore:
    def __init__(self, root: Path, key: bytes) -> None:
        self._root = root
        self._cipher = AESGCM(key)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, sha256_hex: str) -> Path:
        if len(sha256_hex) != 64 or any(c not in "0123456789abcdef" for c in sha256_hex):
            raise KeyError(sha256_hex)
        return self._root / sha256_hex[:2] / f"{sha256_hex}.blob"

    def put(self, sha256_hex: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != sha256_hex:
            raise BlobIntegrityError(f"data does not match digest {sha256_hex}")
        path = self._path(sha256_hex)
        if path.exists():
            return
        path.parent.mkdir(exist_ok=True, mode=0o700)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._cipher.encrypt(nonce, data, sha256_hex.encode())
        # Unique per writer: two requests may store the same new blob at the same time.
        staging = path.with_suffix(f".tmp{secrets.token_hex(8)}")
        with open(staging, "wb") as sink:
            sink.write(sealed)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(staging, path)

    def get(self, sha256_hex: str) -> bytes:
        try:
            sealed = self._path(sha256_hex).read_bytes()
        except FileNotFoundError:
            raise KeyError(sha256_hex) from None
        if len(sealed) < _NONCE_BYTES + 16:  # nonce + GCM tag at least
            raise BlobIntegrityError(f"blob {sha256_hex} is truncated")
        try:
            data = self._cipher.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], sha256_hex.encode())
        except InvalidTag as exc:
            raise BlobIntegrityError(f"blob {sha256_hex} failed authentication") from exc
        if hashlib.sha256(data).hexdigest() != sha256_hex:
            raise BlobIntegrityError(f"blob {sha256_hex} does not match its digest")
        return data

    def exists(self, sha256_hex: str) -> bool:
        return self._path(sha256_hex).exists()

    def delete(self, sha256_hex: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(sha256_hex).unlink()

    def digests(self) -> set[str]:
        """Every stored blob's digest; staging files of writes in progress are not blobs yet."""
        found: set[str] = set()
        with contextlib.suppress(FileNotFoundError):
            for folder in self._root.iterdir():
                if len(folder.name) != 2 or not folder.is_dir():
                    continue
                for path in folder.iterdir():
                    name = path.name
                    if name.endswith(".blob") and name.startswith(folder.name) and len(name) == 69:
                        found.add(name[:64])
        return found
