"""Numbered schema migrations; `user_version` records how far a database has come."""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE functions (
        name TEXT PRIMARY KEY,
        config TEXT NOT NULL
    );
    CREATE TABLE function_versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        config TEXT NOT NULL,
        PRIMARY KEY (name, version)
    );
    """,
    """
    CREATE TABLE provisioned_concurrency (
        name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        requested INTEGER NOT NULL,
        last_modified TEXT NOT NULL,
        PRIMARY KEY (name, qualifier)
    );
    """,
    """
    CREATE TABLE aliases (
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (name, alias)
    );
    """,
    """
    CREATE TABLE reserved_concurrency (
        name TEXT PRIMARY KEY,
        reserved INTEGER NOT NULL
    );
    CREATE TABLE resource_policies (
        name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (name, qualifier)
    );
    CREATE TABLE function_tags (
        name TEXT PRIMARY KEY,
        tags TEXT NOT NULL
    );
    """,
)


def migrate(connection: sqlite3.Connection) -> None:
    current = connection.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
        connection.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")
