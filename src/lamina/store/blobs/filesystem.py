"""Encrypted, content-addressed blobs on local disk (sealed as blobs/sealing.py says), one file each."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from lamina.store.blobs.sealing import BlobSealer, check_digest_name


class FilesystemBlobStore:
    def __init__(self, root: Path, key: bytes) -> None:
        self._root = root
        self._sealer = BlobSealer(key)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, sha256_hex: str) -> Path:
        check_digest_name(sha256_hex)
        return self._root / sha256_hex[:2] / f"{sha256_hex}.blob"

    def put(self, sha256_hex: str, data: bytes) -> None:
        path = self._path(sha256_hex)
        sealed = self._sealer.seal(sha256_hex, data)
        if path.exists():
            return
        path.parent.mkdir(exist_ok=True, mode=0o700)
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
        return self._sealer.open(sha256_hex, sealed)

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

    def close(self) -> None:
        """Nothing to let go of (the port's `close` is for adapters holding connections)."""
