"""Keys and root credentials that servers sharing a database must share, kept in that database.

One server alone keeps them in its data directory (auth/secrets_store.py). Servers on one database
must agree on them: the code key opens blobs any of them stored, the credentials key IAM secrets
any of them sealed, the code-URL key links any of them signed, and the root credentials sign
requests to any of them. Whichever server starts first makes each one; the others read it. Guard
the database as you guard a data directory: it holds what the data directory's secrets folder does.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

_TABLE = """
CREATE TABLE IF NOT EXISTS lamina_secrets (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
)
"""


def shared_secret(url: str, name: str, make: Callable[[], bytes]) -> tuple[bytes, bool]:
    """The secret `name`, made with `make()` by the first server to ask; whether this call made it."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
        connection.execute("SELECT pg_advisory_lock(hashtext('lamina-secrets'))")
        try:
            connection.execute(_TABLE)
            row = connection.execute("SELECT value FROM lamina_secrets WHERE name = %s", (name,)).fetchone()
            if row is not None:
                return bytes(row[0]), False
            value = make()
            connection.execute("INSERT INTO lamina_secrets (name, value) VALUES (%s, %s)", (name, value))
            return value, True
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext('lamina-secrets'))")
