"""One SQLite database file on its own worker thread, with numbered migrations.

sqlite3 blocks, so every statement runs on one dedicated thread: that serialises access to the
single connection without locks and keeps the event loop free. WAL with synchronous=NORMAL makes
a committed write survive a crash of the server process (the kernel has it), which is what the
stores promise; fsync on every commit would cost a disk flush per write.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def migrate(connection: sqlite3.Connection, migrations: Sequence[str]) -> None:
    """Run the scripts a database has not run yet; `user_version` records how far it has come."""
    current = connection.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(migrations[current:], start=current + 1):
        connection.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")


class SqliteDatabase:
    def __init__(self, path: Path, migrations: Sequence[str], thread_name: str) -> None:
        self._path = path
        self._migrations = migrations
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._connection: sqlite3.Connection | None = None

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one transaction on the database's thread."""

        def call() -> T:
            assert self._connection is not None, "store is not open"
            with self._connection:
                return work(self._connection)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def atomic(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` as one transaction (BEGIN IMMEDIATE ... COMMIT, rolled back if it raises):
        for work of several statements that must land together or not at all (the connection is
        in autocommit mode, so `run` commits statement by statement)."""

        def call() -> T:
            connection = self._connection
            assert connection is not None, "store is not open"
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        def connect() -> None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            migrate(connection, self._migrations)
            self._connection = connection

        await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def close(self) -> None:
        def disconnect() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._executor, disconnect)
        self._executor.shutdown(wait=True)
