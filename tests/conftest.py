"""Test-wide configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, available, postgres_server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `slow` run only when a `-m` expression names them (`pytest -m slow`)."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real, throwaway PostgreSQL server (one per test process), for the stores' PostgreSQL
    adapters; skipped only where PostgreSQL is not installed."""
    if not available():
        pytest.skip("PostgreSQL is not installed (scripts/test installs Debian's postgresql)")
    with postgres_server() as server:
        yield server
