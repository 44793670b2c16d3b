"""Store contract tests: every adapter of a store port passes the same tests. SQLite runs
everywhere; PostgreSQL runs against a real throwaway server (tests/support/postgres.py) and is
skipped only where PostgreSQL is not installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, available, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if not available():
        pytest.skip("PostgreSQL is not installed (scripts/test installs Debian's postgresql)")
    with postgres_server() as server:
        yield server
