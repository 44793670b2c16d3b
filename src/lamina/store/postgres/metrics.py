"""Metric datapoints in PostgreSQL, at CloudWatch's resolutions: the MetricStore port, as the SQLite
store keeps them (aggregates as JSON text: an empty one's bounds are infinite, which JSONB cannot
hold). Writers to one series are serialised by its row (the upsert locks it until the
transaction ends), so servers sharing the database merge into the same periods safely."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection

from lamina.domain.metrics.aggregate import Aggregate
from lamina.domain.metrics.retention import RESOLUTIONS
from lamina.domain.metrics.series import MetricKey, SeriesInfo
from lamina.store.postgres.database import DatabaseUser, PostgresDatabase

_MIGRATIONS = (
    """
    CREATE TABLE metric_series (
        id BIGSERIAL PRIMARY KEY,
        scope TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        dimensions TEXT NOT NULL,
        unit TEXT,
        last_seen BIGINT NOT NULL,
        UNIQUE (scope, namespace, name, dimensions)
    );
    CREATE TABLE metric_points (
        series_id BIGINT NOT NULL REFERENCES metric_series(id) ON DELETE CASCADE,
        resolution INTEGER NOT NULL,
        start BIGINT NOT NULL,
        aggregate TEXT NOT NULL,
        PRIMARY KEY (series_id, resolution, start)
    );
    """,
)


def _dimensions_text(key: MetricKey) -> str:
    return json.dumps(key.dimensions, separators=(",", ":"))


def _key_of(namespace: str, name: str, dimensions: str) -> MetricKey:
    return MetricKey(namespace, name, tuple((str(a), str(b)) for a, b in json.loads(dimensions)))


class PostgresMetricStore(DatabaseUser):
    def __init__(self, database: PostgresDatabase | str, scope: str) -> None:
        """`database`: a shared one (the server's to open and close), or a URL to own one; `scope`:
        the account and region whose data this is (e.g. "123456789012/us-east-1")."""
        super().__init__(database)
        self._scope = scope

    async def open(self) -> None:
        await self._open_database("metrics", _MIGRATIONS)

    async def write(
        self, minutes: Mapping[MetricKey, Mapping[int, Aggregate]], units: Mapping[MetricKey, str]
    ) -> None:
        """Merge one-minute aggregates ({key: {minute start: aggregate}}) into every resolution."""
        async with self._database.transaction() as connection:
            for key, by_minute in sorted(minutes.items(), key=lambda item: _sort_key(item[0])):
                if by_minute:
                    series_id = await self._series_id(connection, key, units.get(key), max(by_minute))
                    await _merge(connection, series_id, by_minute)

    async def _series_id(
        self, connection: AsyncConnection[Any], key: MetricKey, unit: str | None, seen: int
    ) -> int:
        cursor = await connection.execute(
            "INSERT INTO metric_series (scope, namespace, name, dimensions, unit, last_seen) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (scope, namespace, name, dimensions) DO UPDATE SET "
            "unit = COALESCE(excluded.unit, metric_series.unit), "
            "last_seen = GREATEST(metric_series.last_seen, excluded.last_seen) RETURNING id",
            (self._scope, key.namespace, key.name, _dimensions_text(key), unit, seen),
        )
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def read(self, key: MetricKey, resolution: int, start: int, end: int) -> dict[int, Aggregate]:
        """Stored aggregates of `key` at `resolution` with start <= period start < end."""
        async with self._database.transaction() as connection:
            cursor = await connection.execute(
                "SELECT p.start, p.aggregate FROM metric_points p JOIN metric_series s ON s.id = p.series_id "
                "WHERE s.scope = %s AND s.namespace = %s AND s.name = %s AND s.dimensions = %s "
                "AND p.resolution = %s AND p.start >= %s AND p.start < %s",
                (self._scope, key.namespace, key.name, _dimensions_text(key), resolution, start, end),
            )
            return {
                int(begin): Aggregate.from_record(json.loads(text)) for begin, text in await cursor.fetchall()
            }

    async def series(self, namespace: str | None = None, name: str | None = None) -> list[SeriesInfo]:
        query = "SELECT namespace, name, dimensions, unit, last_seen FROM metric_series WHERE scope = %s"
        values: list[Any] = [self._scope]
        if namespace is not None:
            query += " AND namespace = %s"
            values.append(namespace)
        if name is not None:
            query += " AND name = %s"
            values.append(name)
        async with self._database.transaction() as connection:
            cursor = await connection.execute(query + " ORDER BY namespace, name, dimensions", values)
            return [
                SeriesInfo(_key_of(row[0], row[1], row[2]), row[3], int(row[4]))
                for row in await cursor.fetchall()
            ]

    async def prune(self, now: float) -> int:
        """Delete datapoints past their resolution's retention, and series left with none."""
        removed = 0
        async with self._database.transaction() as connection:
            for period, kept in RESOLUTIONS:
                cursor = await connection.execute(
                    "DELETE FROM metric_points p USING metric_series s WHERE s.id = p.series_id "
                    "AND s.scope = %s AND p.resolution = %s AND p.start < %s",
                    (self._scope, period, int(now - kept)),
                )
                removed += cursor.rowcount
            await connection.execute(
                "DELETE FROM metric_series s WHERE s.scope = %s AND NOT EXISTS "
                "(SELECT 1 FROM metric_points p WHERE p.series_id = s.id)",
                (self._scope,),
            )
        return removed


def _sort_key(key: MetricKey) -> tuple[str, str, str]:
    """Series rows are locked in one order by every writer: no deadlock between servers."""
    return (key.namespace, key.name, _dimensions_text(key))


async def _merge(
    connection: AsyncConnection[Any], series_id: int, by_minute: Mapping[int, Aggregate]
) -> None:
    for period, _ in RESOLUTIONS:
        merged: dict[int, Aggregate] = {}
        for minute, aggregate in by_minute.items():
            merged.setdefault(minute - minute % period, Aggregate()).merge(aggregate)
        for start, aggregate in merged.items():
            cursor = await connection.execute(
                "SELECT aggregate FROM metric_points WHERE series_id = %s AND resolution = %s AND start = %s",
                (series_id, period, start),
            )
            row = await cursor.fetchone()
            if row is not None:
                stored = Aggregate.from_record(json.loads(row[0]))
                stored.merge(aggregate)
                aggregate = stored
            await connection.execute(
                "INSERT INTO metric_points (series_id, resolution, start, aggregate) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (series_id, resolution, start) DO UPDATE SET aggregate = excluded.aggregate",
                (series_id, period, start, json.dumps(aggregate.to_record())),
            )
