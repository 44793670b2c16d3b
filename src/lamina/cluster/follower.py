"""A worker of `lamina server --workers N`: the same server, answering the hot path only.

Started by the primary as `lamina _worker` (a hidden command) with its `WorkerSpec` on stdin.

A worker runs invocations (synchronous Invoke, function URLs) with execution environments, fork
servers and a pool of its own, from in-memory copies of functions, IAM and resource policies that it
loads from the shared stores and reloads when the primary says it changed something
(`change_feed.py`). Everything else moves to the primary with its connection (`routing.py`,
`transport/handoff.py`): the control plane, Event invocations (the primary owns the async
queue, so each event is delivered once), and any invocation the copy cannot answer with certainty
(an unknown key or function, a function not Active, a version with provisioned concurrency).

What a worker measures goes to the primary: metrics and billing through store adapters that call
it (`RemoteMetricStore`, `RemoteBillingStore`), so that CloudWatch and `lamina cost` see one
account. Log lines go straight to the shared log folders: each environment writes a stream of its
own, so no two processes ever append to one file. Environment credentials are made by the primary
(`RemoteCredentials`), whose directory must know them to verify the calls functions make.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lamina.cluster.control import ControlChannel, Handler
from lamina.cluster.workers import WorkerSpec
from lamina.domain.functions import FunctionConfig
from lamina.domain.iam.entities import Session
from lamina.domain.metrics.aggregate import Aggregate
from lamina.domain.metrics.series import MetricKey, SeriesInfo
from lamina.domain.recordings import RecordedInvocation
from lamina.identity.directory import IdentityDirectory
from lamina.identity.sts import environment_variables_of

_HELLO_MAGIC = b"LMW1"


async def connect(spec: WorkerSpec, handlers: Mapping[str, Handler]) -> ControlChannel:
    """This worker's control link, introduced with its index, token and pid."""
    reader, writer = await asyncio.open_unix_connection(str(spec.control_path))
    writer.write(
        _HELLO_MAGIC
        + spec.index.to_bytes(2, "big")
        + spec.token.hex().encode("ascii")
        + os.getpid().to_bytes(8, "big")
    )
    return ControlChannel(reader, writer, handlers)


class RemoteCredentials:
    """Execution environments' credentials, made by the primary (its directory verifies the calls
    functions make there) and known here too (calls that reach this worker's port)."""

    def __init__(self, channel: Callable[[], ControlChannel], directory: IdentityDirectory) -> None:
        self._channel = channel
        self._directory = directory

    async def variables(self, config: FunctionConfig, endpoint: str) -> tuple[dict[str, str], float | None]:
        made = await self._channel().call("credentials", role=config.role, function=config.name)
        if made is None:
            return {"AWS_ENDPOINT_URL": endpoint}, None
        session = Session(**made["session"])
        await self._directory.save_session(session, made["secret"], persist=False)
        return environment_variables_of(session, made["secret"], endpoint), session.expires

    def revoke(self, access_key_id: str) -> None:
        self._directory.revoke_session(access_key_id)
        self._channel().notify("revoke", key=access_key_id)


@dataclass(slots=True)
class _RemoteStore:
    """A store whose writes the primary makes: nothing to open or close here."""

    channel: Callable[[], ControlChannel]
    account_id: str
    region: str

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None


@dataclass(slots=True)
class RemoteMetricStore(_RemoteStore):
    """A worker's metric store: what its recorder flushes is written by the primary."""

    async def write(
        self, minutes: Mapping[MetricKey, Mapping[int, Aggregate]], units: Mapping[MetricKey, str]
    ) -> None:
        series = [
            [
                key.namespace,
                key.name,
                [list(pair) for pair in key.dimensions],
                units.get(key),
                [[minute, aggregate.to_record()] for minute, aggregate in by_minute.items()],
            ]
            for key, by_minute in minutes.items()
        ]
        await self.channel().call("metrics", account=self.account_id, region=self.region, series=series)

    async def read(self, key: MetricKey, resolution: int, start: int, end: int) -> dict[int, Aggregate]:
        return {}  # CloudWatch is answered by the primary

    async def series(self, namespace: str | None = None, name: str | None = None) -> list[SeriesInfo]:
        return []

    async def prune(self, now: float) -> int:
        return 0


def metric_write_of(series: list[Any]) -> tuple[dict[MetricKey, dict[int, Aggregate]], dict[MetricKey, str]]:
    """The primary's side of `RemoteMetricStore.write`: the arguments for its own store."""
    minutes: dict[MetricKey, dict[int, Aggregate]] = {}
    units: dict[MetricKey, str] = {}
    for namespace, name, dimensions, unit, points in series:
        key = MetricKey(str(namespace), str(name), tuple((str(n), str(v)) for n, v in dimensions))
        minutes[key] = {int(minute): Aggregate.from_record(record) for minute, record in points}
        if unit is not None:
            units[key] = str(unit)
    return minutes, units


@dataclass(slots=True)
class RemoteBillingStore(_RemoteStore):
    """A worker's billing store: what its meter flushes is added by the primary."""

    async def add(self, usage: Mapping[tuple[str, str], tuple[int, int]]) -> None:
        rows = [[month, function, requests, mb_ms] for (month, function), (requests, mb_ms) in usage.items()]
        await self.channel().call("billing", account=self.account_id, region=self.region, usage=rows)


@dataclass(slots=True)
class RemoteRecordingSink(_RemoteStore):
    """A worker's recorded invocations: the primary stores them (events base64 in the JSON frame)."""

    async def add(self, recorded: Sequence[RecordedInvocation]) -> None:
        rows = [
            [
                item.function,
                item.request_id,
                item.at,
                item.version,
                item.status,
                item.duration_ms,
                base64.b64encode(item.payload).decode(),
            ]
            for item in recorded
        ]
        await self.channel().call("recordings", account=self.account_id, region=self.region, recorded=rows)


def recordings_of(rows: list[Any]) -> list[RecordedInvocation]:
    """What a worker's RemoteRecordingSink sent, as records."""
    found = []
    for function, request_id, at, version, status, duration_ms, payload in rows:
        data = base64.b64decode(str(payload))
        found.append(
            RecordedInvocation(
                str(function),
                str(request_id),
                float(at),
                str(version),
                str(status),
                float(duration_ms),
                data,
                len(data),
            )
        )
    return found


def billing_add_of(rows: list[Any]) -> dict[tuple[str, str], tuple[int, int]]:
    return {
        (str(month), str(function)): (int(requests), int(mb_ms)) for month, function, requests, mb_ms in rows
    }
