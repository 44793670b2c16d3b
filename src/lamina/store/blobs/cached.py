"""A remote blob store (S3, a shared database) with the data directory's blob folder as its cache:
each server reads a package from the remote once, then from its own disk."""

from __future__ import annotations

from lamina.store.ports import BlobStore


class CachedBlobStore:
    def __init__(self, remote: BlobStore, local: BlobStore) -> None:
        self._remote = remote
        self._local = local

    def put(self, sha256_hex: str, data: bytes) -> None:
        self._remote.put(sha256_hex, data)  # the remote first: it is what other servers read
        self._local.put(sha256_hex, data)

    def get(self, sha256_hex: str) -> bytes:
        try:
            return self._local.get(sha256_hex)
        except KeyError:
            data = self._remote.get(sha256_hex)
            self._local.put(sha256_hex, data)
            return data

    def exists(self, sha256_hex: str) -> bool:
        return self._local.exists(sha256_hex) or self._remote.exists(sha256_hex)

    def delete(self, sha256_hex: str) -> None:
        self._remote.delete(sha256_hex)
        self._local.delete(sha256_hex)

    def digests(self) -> set[str]:
        """The remote's (what the cache holds beyond it is collected with it)."""
        remote = self._remote.digests()
        for stale in self._local.digests() - remote:
            if not self._remote.exists(stale):
                self._local.delete(stale)
        return remote

    def close(self) -> None:
        self._remote.close()
        self._local.close()
