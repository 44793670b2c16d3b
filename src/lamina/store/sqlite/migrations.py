"""The metadata database's numbered schema migrations (run by database.migrate)."""

from __future__ import annotations

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
    """
    CREATE TABLE event_invoke_configs (
        name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (name, qualifier)
    );
    CREATE TABLE recursion_configs (
        name TEXT PRIMARY KEY,
        recursive_loop TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE function_urls (
        url_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (name, qualifier)
    );
    """,
    """
    CREATE TABLE layer_names (
        name TEXT PRIMARY KEY,
        last_version INTEGER NOT NULL
    );
    CREATE TABLE layer_versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        record TEXT NOT NULL,
        policy TEXT,
        PRIMARY KEY (name, version)
    );
    """,
    """
    CREATE TABLE event_source_mappings (
        uuid TEXT PRIMARY KEY,
        record TEXT NOT NULL
    );
    """,
)
