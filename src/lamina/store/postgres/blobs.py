"""PostgreSQL implementation of BlobStore: code blobs in the database that several servers share,
so a package stored through one server runs on any other, and outlives the server that took it.

Blobs are sealed with the servers' shared code key (blobs/sealing.py), so the database alone does
not give the code away. Each server unpacks what it runs into its own code cache: a blob is read
once per server, not once per cold start.

Collection across servers: a server's sweep knows only its own requests in progress, while another
server may have stored a package whose function it has not written yet. `digests` therefore offers
only blobs stored (or stored again) more than GRACE_SECONDS ago, far longer than any request takes
between storing a package and writing what references it.
"""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg_pool import ConnectionPool

from lamina.store.blobs.sealing import BlobSealer, check_digest_name

GRACE_SECONDS = 900

_TABLE = """
CREATE TABLE IF NOT EXISTS code_blobs (
    digest TEXT PRIMARY KEY,
    sealed BYTEA NOT NULL,
    stored_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""
# Blob calls block (the BlobStore contract: callers run them in a thread); a few at a time suffice.
_POOL_SIZE = 4


class PostgresBlobStore:
    def __init__(self, url: str, key: bytes, *, grace_seconds: float = GRACE_SECONDS) -> None:
        self._sealer = BlobSealer(key)
        self._grace_seconds = grace_seconds
        self._pool: ConnectionPool[Connection[Any]] = ConnectionPool(
            url, min_size=0, max_size=_POOL_SIZE, open=True, kwargs={"autocommit": True}
        )
        with self._pool.connection() as connection:
            connection.execute("SELECT pg_advisory_lock(hashtext('lamina-code-blobs'))")
            try:
                connection.execute(_TABLE)
            finally:
                connection.execute("SELECT pg_advisory_unlock(hashtext('lamina-code-blobs'))")

    def put(self, sha256_hex: str, data: bytes) -> None:
        check_digest_name(sha256_hex)
        sealed = self._sealer.seal(sha256_hex, data)
        with self._pool.connection() as connection:
            # Stored again: the grace starts over, as the request storing it may reference it now.
            connection.execute(
                "INSERT INTO code_blobs (digest, sealed) VALUES (%s, %s) "
                "ON CONFLICT (digest) DO UPDATE SET stored_at = now()",
                (sha256_hex, sealed),
            )

    def get(self, sha256_hex: str) -> bytes:
        check_digest_name(sha256_hex)
        with self._pool.connection() as connection:
            row = connection.execute(
                "SELECT sealed FROM code_blobs WHERE digest = %s", (sha256_hex,)
            ).fetchone()
        if row is None:
            raise KeyError(sha256_hex)
        return self._sealer.open(sha256_hex, bytes(row[0]))

    def exists(self, sha256_hex: str) -> bool:
        check_digest_name(sha256_hex)
        with self._pool.connection() as connection:
            row = connection.execute("SELECT 1 FROM code_blobs WHERE digest = %s", (sha256_hex,)).fetchone()
        return row is not None

    def delete(self, sha256_hex: str) -> None:
        with self._pool.connection() as connection:
            connection.execute("DELETE FROM code_blobs WHERE digest = %s", (sha256_hex,))

    def digests(self) -> set[str]:
        """Blobs past their grace only (see the module's docstring)."""
        with self._pool.connection() as connection:
            rows = connection.execute(
                "SELECT digest FROM code_blobs WHERE stored_at < now() - make_interval(secs => %s)",
                (self._grace_seconds,),
            ).fetchall()
        return {str(row[0]) for row in rows}

    def close(self) -> None:
        self._pool.close()
