"""SQLite metadata store: the embedded default."""

from lamina.store.sqlite.metadata import SqliteMetadataStore

__all__ = ["SqliteMetadataStore"]
