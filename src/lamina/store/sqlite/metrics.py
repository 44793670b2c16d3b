"""Metric datapoints in SQLite (`metrics.db` per account), at CloudWatch's resolutions.

Every aggregate written at one-minute resolution is merged into its 5-minute and hourly periods
too; each resolution is kept as long as CloudWatch keeps it (domain/metrics/retention.py), so a
query picks the finest resolution its start time still has.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from lamina.domain.metrics.aggregate import Aggregate
from lamina.domain.metrics.retention import RESOLUTIONS
from lamina.domain.metrics.series import Dimensions, MetricKey, SeriesInfo
from lamina.store.sqlite.database import SqliteDatabase

_MIGRATIONS = (
    """
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        dimensions TEXT NOT NULL,
        unit TEXT,
        last_seen INTEGER NOT NULL,
        UNIQUE (namespace, name, dimensions)
    );
    CREATE TABLE points (
        series_id INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
        resolution INTEGER NOT NULL,
        start INTEGER NOT NULL,
        aggregate TEXT NOT NULL,
        PRIMARY KEY (series_id, resolution, start)
    ) WITHOUT ROWID;
    """,
)


def _dimensions_text(dimensions: Dimensions) -> str:
    return json.dumps(dimensions, separators=(",", ":"))


def _key_of(row: tuple[str, str, str]) -> MetricKey:
    namespace, name, dimensions = row
    return MetricKey(namespace, name, tuple((str(a), str(b)) for a, b in json.loads(dimensions)))


class SqliteMetricStore:
    def __init__(self, path: Path) -> None:
        self._database = SqliteDatabase(path, _MIGRATIONS, "lamina-metrics")

    async def open(self) -> None:
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    async def write(
        self, minutes: Mapping[MetricKey, Mapping[int, Aggregate]], units: Mapping[MetricKey, str]
    ) -> None:
        """Merge one-minute aggregates ({key: {minute start: aggregate}}) into every resolution."""

        def work(connection: sqlite3.Connection) -> None:
            for key, by_minute in minutes.items():
                if not by_minute:
                    continue
                series_id = self._series_id(connection, key, units.get(key), max(by_minute))
                for period, _ in RESOLUTIONS:
                    merged: dict[int, Aggregate] = {}
                    for minute, aggregate in by_minute.items():
                        start = minute - minute % period
                        merged.setdefault(start, Aggregate()).merge(aggregate)
                    for start, aggregate in merged.items():
                        row = connection.execute(
                            "SELECT aggregate FROM points WHERE series_id = ? AND resolution = ? AND start = ?",
                            (series_id, period, start),
                        ).fetchone()
                        if row is not None:
                            stored = Aggregate.from_record(json.loads(row[0]))
                            stored.merge(aggregate)
                            aggregate = stored
                        connection.execute(
                            "INSERT OR REPLACE INTO points (series_id, resolution, start, aggregate) VALUES (?, ?, ?, ?)",
                            (series_id, period, start, json.dumps(aggregate.to_record())),
                        )

        await self._database.run(work)

    @staticmethod
    def _series_id(connection: sqlite3.Connection, key: MetricKey, unit: str | None, seen: int) -> int:
        dimensions = _dimensions_text(key.dimensions)
        connection.execute(
            "INSERT INTO series (namespace, name, dimensions, unit, last_seen) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (namespace, name, dimensions) DO UPDATE SET "
            "unit = COALESCE(excluded.unit, series.unit), last_seen = MAX(series.last_seen, excluded.last_seen)",
            (key.namespace, key.name, dimensions, unit, seen),
        )
        row = connection.execute(
            "SELECT id FROM series WHERE namespace = ? AND name = ? AND dimensions = ?",
            (key.namespace, key.name, dimensions),
        ).fetchone()
        return int(row[0])

    async def read(self, key: MetricKey, resolution: int, start: int, end: int) -> dict[int, Aggregate]:
        """Stored aggregates of `key` at `resolution` with start <= period start < end."""

        def work(connection: sqlite3.Connection) -> dict[int, Aggregate]:
            rows = connection.execute(
                "SELECT p.start, p.aggregate FROM points p JOIN series s ON s.id = p.series_id "
                "WHERE s.namespace = ? AND s.name = ? AND s.dimensions = ? AND p.resolution = ? "
                "AND p.start >= ? AND p.start < ?",
                (key.namespace, key.name, _dimensions_text(key.dimensions), resolution, start, end),
            ).fetchall()
            return {int(begin): Aggregate.from_record(json.loads(text)) for begin, text in rows}

        return await self._database.run(work)

    async def series(self, namespace: str | None = None, name: str | None = None) -> list[SeriesInfo]:
        def work(connection: sqlite3.Connection) -> list[SeriesInfo]:
            clauses, values = [], []
            if namespace is not None:
                clauses.append("namespace = ?")
                values.append(namespace)
            if name is not None:
                clauses.append("name = ?")
                values.append(name)
            where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
            rows = connection.execute(
                f"SELECT namespace, name, dimensions, unit, last_seen FROM series {where} "
                "ORDER BY namespace, name, dimensions",
                values,
            ).fetchall()
            return [SeriesInfo(_key_of(row[:3]), row[3], int(row[4])) for row in rows]

        return await self._database.run(work)

    async def prune(self, now: float) -> int:
        """Delete datapoints past their resolution's retention, and series left with none."""

        def work(connection: sqlite3.Connection) -> int:
            removed = 0
            for period, kept in RESOLUTIONS:
                removed += connection.execute(
                    "DELETE FROM points WHERE resolution = ? AND start < ?", (period, int(now - kept))
                ).rowcount
            connection.execute("DELETE FROM series WHERE id NOT IN (SELECT DISTINCT series_id FROM points)")
            return removed

        return await self._database.run(work)
