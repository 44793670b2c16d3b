"""Store interfaces. Every adapter honours these contracts; one conformance suite tests them all."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lamina.domain.aliases import Alias
from lamina.domain.async_events import EventInvokeConfig, QueuedEvent
from lamina.domain.event_sources import EventSourceMapping
from lamina.domain.function_urls import FunctionUrlConfig
from lamina.domain.functions import FunctionConfig
from lamina.domain.layers import LayerVersion
from lamina.domain.log_patterns import FilterPattern
from lamina.domain.metrics.aggregate import Aggregate
from lamina.domain.metrics.series import MetricKey, SeriesInfo
from lamina.domain.recordings import RecordedInvocation


@dataclass(frozen=True, slots=True)
class ProvisionedConcurrencyConfig:
    """What PutProvisionedConcurrencyConfig asked for one qualifier (a published version today)."""

    function_name: str
    qualifier: str
    requested: int
    last_modified: str  # AWS's LastModified text (ISO 8601)


class MetadataStore(Protocol):
    """Function metadata. All methods are safe to call concurrently from the event loop.

    Writes are durable when the awaited call returns. Every put and delete except `put_version` is
    idempotent. Reads are not on the invocation hot path: callers cache what they need.
    """

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def create_function(self, config: FunctionConfig) -> bool:
        """Insert a new function's $LATEST configuration; False when one of that name exists
        (another server sharing the store made it meanwhile): nothing is written then."""

    async def update_function(self, config: FunctionConfig) -> bool:
        """Replace an existing function's $LATEST configuration; False when there is none (another
        server deleted it meanwhile): nothing is written then."""

    async def get_function(self, name: str) -> FunctionConfig | None: ...
    async def list_functions(self) -> list[FunctionConfig]:
        """$LATEST configurations ordered by name."""

    async def delete_function(self, name: str) -> bool:
        """Delete the function with everything that belongs to it: published versions, aliases,
        reserved and provisioned concurrency, resource policies, tags, event invoke and recursion
        configs, function URLs. Whether there was such a function."""

    async def put_version(self, config: FunctionConfig) -> bool:
        """Store an immutable published version; False when that (name, version) exists (another
        server published it meanwhile): nothing is written then."""

    async def update_version_state(self, config: FunctionConfig) -> None:
        """Replace a published version's record by the same configuration in a later lifecycle
        state (domain/lifecycle.py); nothing happens when the version is gone."""

    async def list_versions(self, name: str) -> list[FunctionConfig]:
        """Published versions ordered by version number."""

    async def delete_version(self, name: str, version: str) -> None:
        """Delete one published version with its provisioned concurrency, event invoke config and
        policy."""

    async def put_alias(self, alias: Alias) -> None:
        """Insert or replace the alias (function_name, name)."""

    async def delete_alias(self, function_name: str, name: str) -> None:
        """Delete the alias with its provisioned concurrency, event invoke config, policy and URL."""

    async def list_aliases(self, function_name: str | None = None) -> list[Alias]:
        """The aliases of one function (of every function when None), ordered by function name,
        then alias name."""

    async def put_reserved_concurrency(self, function_name: str, reserved: int | None) -> None:
        """Set (None: remove) the function's reserved concurrency."""

    async def list_reserved_concurrency(self) -> dict[str, int]:
        """Function name -> reserved concurrency, for every function that has one."""

    async def put_policy(self, function_name: str, qualifier: str, document: str | None) -> None:
        """Set (None: remove) the resource-based policy of the function ("" as qualifier), of
        one of its versions or of one of its aliases; `document` is the policy as JSON text."""

    async def get_policy(self, function_name: str, qualifier: str) -> str | None: ...
    async def put_tags(self, function_name: str, tags: dict[str, str]) -> None:
        """Replace the function's tags (an empty dict removes them)."""

    async def get_tags(self, function_name: str) -> dict[str, str]: ...
    async def put_event_invoke_config(self, config: EventInvokeConfig) -> None:
        """Insert or replace the config of (function_name, qualifier)."""

    async def delete_event_invoke_config(self, function_name: str, qualifier: str) -> None: ...
    async def list_event_invoke_configs(self, function_name: str | None = None) -> list[EventInvokeConfig]:
        """The configs of one function (of every function when None), by function then qualifier."""

    async def put_recursion_config(self, function_name: str, recursive_loop: str) -> None: ...
    async def list_recursion_configs(self) -> dict[str, str]:
        """Function name -> RecursiveLoop, for every function that set one."""

    async def put_function_url(self, config: FunctionUrlConfig) -> None:
        """Insert or replace (by url_id) a function URL; one per function and per alias."""

    async def delete_function_url(self, url_id: str) -> None: ...
    async def list_function_urls(self, function_name: str | None = None) -> list[FunctionUrlConfig]: ...
    async def next_layer_version(self, name: str) -> int:
        """Reserve the layer's next version number: one more than any it ever had."""

    async def put_layer_version(self, layer: LayerVersion) -> None: ...
    async def get_layer_version(self, name: str, version: int) -> LayerVersion | None: ...
    async def list_layer_versions(self, name: str | None = None) -> list[LayerVersion]:
        """By layer name, then version, newest version last."""

    async def delete_layer_version(self, name: str, version: int) -> None:
        """Delete one version with its policy; nothing happens when it is not there."""

    async def put_layer_policy(self, name: str, version: int, document: str | None) -> None:
        """Set (None: remove) the version's policy; the version must exist."""

    async def get_layer_policy(self, name: str, version: int) -> str | None: ...
    async def put_provisioned_concurrency(self, config: ProvisionedConcurrencyConfig) -> None:
        """Insert or replace the config of (function_name, qualifier)."""

    async def delete_provisioned_concurrency(self, function_name: str, qualifier: str) -> None:
        """Delete one config; nothing happens when there is none."""

    async def list_provisioned_concurrency(
        self, function_name: str | None = None
    ) -> list[ProvisionedConcurrencyConfig]:
        """The configs of one function (of every function when None), ordered by function name,
        then numeric qualifiers (versions) in numeric order before the others."""

    async def put_event_source_mapping(self, mapping: EventSourceMapping) -> None:
        """Store an event source mapping (insert or replace by UUID)."""
        ...

    async def delete_event_source_mapping(self, uuid: str) -> bool:
        """Remove a mapping; False when it was not there."""
        ...

    async def list_event_source_mappings(self) -> list[EventSourceMapping]:
        """Every mapping of this account and region."""
        ...


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    """One IAM entity as stored: what kind it is, its account and name, its record, and the secret
    that goes with it (access keys and sessions), decrypted."""

    kind: str
    account: str
    name: str
    record: dict[str, Any]
    secret: str | None = None


class IdentityStore(Protocol):
    """IAM entities (users, access keys, roles, policies, attachments, sessions). Writes are
    durable when the awaited call returns; secrets are encrypted at rest."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def put(
        self, kind: str, account: str, name: str, record: dict[str, Any], secret: str | None = None
    ) -> None:
        """Insert or replace; a None secret keeps the stored one."""

    async def delete(self, kind: str, account: str, name: str) -> None: ...
    async def load(self) -> list[IdentityRecord]:
        """Every entity, in the order they were first written."""


class EventQueue(Protocol):
    """Accepted asynchronous invocations not yet settled. Writes are durable when the awaited call
    returns, so an event accepted before a crash is found by `pending` after it."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def put(self, event: QueuedEvent) -> None:
        """Insert or replace the event (by event_id)."""

    async def remove(self, event_id: str) -> None:
        """Forget a settled event; nothing happens when it is not there."""

    async def pending(self) -> list[QueuedEvent]:
        """Every event not yet removed that this server is to deliver, oldest first (at start)."""

    async def orphans(self) -> list[QueuedEvent]:
        """Events that another server sharing the queue accepted and stopped before settling:
        this server's to deliver from now on. A queue only one server uses has none."""


class InFlightExchange(Protocol):
    """Servers sharing concurrency limits (on one database): each one's in-flight counts, exchanged."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def exchange(self, here: Mapping[str, int]) -> dict[str, int]:
        """Publish this server's counts (limit key -> invocations in flight); returns what the
        other live servers count under each key (keys with none left out)."""


class BlobStore(Protocol):
    """Content-addressed code blobs, keyed by the hex SHA-256 of their plaintext.

    `put` is idempotent. `get` verifies integrity and raises `BlobIntegrityError` on mismatch,
    `KeyError` when absent. Methods block: call them from a worker thread.
    """

    def put(self, sha256_hex: str, data: bytes) -> None: ...
    def get(self, sha256_hex: str) -> bytes: ...
    def exists(self, sha256_hex: str) -> bool: ...
    def delete(self, sha256_hex: str) -> None:
        """Idempotent: deleting an absent blob is not an error."""

    def digests(self) -> set[str]:
        """Every stored blob, for collecting those nothing references any more."""
        ...

    def close(self) -> None:
        """When the server stops."""


class BlobIntegrityError(Exception):
    """A stored blob no longer matches its digest (tampering or corruption)."""


@dataclass(frozen=True, slots=True)
class LogEvent:
    timestamp_ms: int
    message: str
    ingestion_time_ms: int


class LogStore(Protocol):
    """Log groups of streams of events, appended in order. `append` does not block for long."""

    def append(self, group: str, stream: str, events: Sequence[tuple[int, str]]) -> None: ...
    def list_streams(self, group: str) -> list[str]: ...
    def read(self, group: str, stream: str, *, start_index: int = 0) -> list[LogEvent]: ...
    def flush(self) -> None:
        """Make appended events durable; appends may be buffered until then."""

    def close(self) -> None: ...


@dataclass(slots=True)
class GroupInfo:
    """What a log group keeps besides its streams. The Logs API changes a copy (`group_info`) and
    stores it back (`update_group`); `dumps` and `loads` are its JSON form."""

    created_ms: int
    retention_days: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    subscription_filters: dict[str, dict[str, Any]] = field(default_factory=dict)  # by filter name
    metric_filters: dict[str, dict[str, Any]] = field(default_factory=dict)  # by filter name

    def dumps(self) -> str:
        return json.dumps(
            {
                "created": self.created_ms,
                "retention": self.retention_days,
                "tags": self.tags,
                "subscriptions": self.subscription_filters,
                "metric_filters": self.metric_filters,
            }
        )

    @classmethod
    def loads(cls, text: str) -> GroupInfo:
        record = json.loads(text)
        return cls(
            int(record["created"]),
            record.get("retention"),
            dict(record.get("tags") or {}),
            dict(record.get("subscriptions") or {}),
            dict(record.get("metric_filters") or {}),
        )


@dataclass(slots=True)
class StreamStats:
    """What DescribeLogStreams shows of a stream, kept up to date by `add` as events are appended."""

    created_ms: int
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    last_ingestion_ms: int | None = None
    stored_bytes: int = 0

    def add(self, timestamp_ms: int, ingested_ms: int, size: int) -> None:
        if self.first_event_ms is None or timestamp_ms < self.first_event_ms:
            self.first_event_ms = timestamp_ms
        if self.last_event_ms is None or timestamp_ms > self.last_event_ms:
            self.last_event_ms = timestamp_ms
        self.last_ingestion_ms = ingested_ms
        self.stored_bytes += size


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Timestamps from `start_ms` (inclusive) to `end_ms` (exclusive when `end_inclusive` is False,
    as GetLogEvents; FilterLogEvents includes its endTime)."""

    start_ms: int = 0
    end_ms: int | None = None
    end_inclusive: bool = False

    def holds(self, timestamp_ms: int) -> bool:
        if timestamp_ms < self.start_ms:
            return False
        if self.end_ms is None:
            return True
        return timestamp_ms <= self.end_ms if self.end_inclusive else timestamp_ms < self.end_ms


@dataclass(frozen=True, slots=True)
class PagedEvent:
    """An event and the positions its record spans in the stream: `end` is where the next starts."""

    offset: int
    end: int
    event: LogEvent


@dataclass(frozen=True, slots=True)
class Page:
    """Events in stream order, and where a following read in the same direction resumes."""

    events: list[PagedEvent]
    resume: int


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event found by a search: where it is (its position orders it within the stream)."""

    stream: str
    offset: int
    event: LogEvent

    @property
    def key(self) -> tuple[int, str, int]:
        """Where it sorts among the matches of several streams: FilterLogEvents' order and token."""
        return self.event.timestamp_ms, self.stream, self.offset


@dataclass(frozen=True, slots=True)
class PageQuery:
    """GetLogEvents' read: up to `limit` events in `window` (fewer past its 1 MB a response), from
    `position` onwards when `forward`, else the latest before it; None is the stream's end.

    `use_time_index`: the caller asked for a time range, when a store that indexes streams by time
    is worth consulting (a stream's first indexed read may cost a whole read)."""

    window: TimeWindow
    forward: bool
    position: int | None
    limit: int
    use_time_index: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """FilterLogEvents' search: the events in `window` that `pattern` matches, past `after` (the key
    of the last event a previous search returned); `use_time_index` as for PageQuery."""

    pattern: FilterPattern
    window: TimeWindow
    limit: int
    after: tuple[int, str, int] | None = None
    use_time_index: bool = False


class InvalidLogPosition(Exception):
    """A page was asked for from a position where no event starts: not one a page handed out."""


class LogQueryStore(Protocol):
    """Log groups and streams as the CloudWatch Logs API manages and reads them.

    Positions are the store's (a file adapter's are byte offsets): a position a page hands out stays
    good while its stream lives, across appends and retention, so paging tokens can carry them.
    Nothing waits for buffered appends to be written: reads and listings include them. The async
    methods do their I/O off the event loop; the plain ones only touch memory or a small file.
    """

    # groups
    def create_group(self, group: str, tags: dict[str, str] | None = None) -> bool:
        """False when it exists already."""

    async def remove_group(self, group: str) -> bool:
        """Delete the group with its streams; the name is free when this returns. False when there
        was no such group."""

    def group_info(self, group: str) -> GroupInfo | None:
        """A copy: change it and `update_group` to keep the change."""

    def update_group(self, group: str, info: GroupInfo) -> None: ...
    def list_groups(self) -> list[str]:
        """Blocking (lists the store): for start-up, before the server answers requests."""

    async def groups(self) -> list[str]:
        """Every group, by name."""

    def tap(self, groups: frozenset[str]) -> None:
        """Keep a copy of what is appended to `groups` (replacing the groups tapped before) for
        subscription and metric filters."""

    def sweep_removed(self) -> None:
        """Blocking: finish removing groups that a stopped server was removing."""

    async def expire_group(self, group: str, before_ms: int) -> int:
        """Retention: delete the group's events with timestamps before `before_ms`; returns how many
        went. A store may keep some a while (too few to be worth a rewrite): readers apply retention
        themselves."""

    # streams
    def create_stream(self, group: str, stream: str) -> bool:
        """False when it exists already; the group is made when missing."""

    async def remove_stream(self, group: str, stream: str) -> bool:
        """False when there was no such stream."""

    async def stream_names(self, group: str) -> list[str]:
        """The group's streams, by name."""

    async def stats_of(self, group: str, streams: Sequence[str]) -> dict[str, StreamStats]:
        """Stats of those of `streams` that exist; they may lag a moment behind appends."""

    def has_stream(self, group: str, stream: str) -> bool: ...
    def append(self, group: str, stream: str, events: Sequence[tuple[int, str]], ingested: int = 0) -> None:
        """Events (timestamp, message) ingested at `ingested` (0: now); the stream is made when
        missing. Buffered: does not block for long."""

    # queries
    async def read_page(self, group: str, stream: str, query: PageQuery) -> tuple[Page, int] | None:
        """The page `query` asks for, and the position it was read from; None when there is no such
        stream. A position past either end is taken as that end, and one where no event starts
        raises InvalidLogPosition."""

    async def search(self, group: str, streams: Sequence[str], query: SearchQuery) -> list[StoredEvent]:
        """Up to `query.limit + 1` events of `streams` that the query matches, ordered by
        `StoredEvent.key`: one more than asked tells the caller there are more."""


class ServerLogStore(LogQueryStore, Protocol):
    """A log store as the server writes through it: the Logs API's port, and what the invocation
    path, the periodic flush and shutdown use (every adapter buffers appends in memory)."""

    @property
    def backlog_bytes(self) -> int:
        """How much is appended and not yet written (the log budget drops lines while it is much)."""

    async def write_out(self) -> None:
        """Write what is buffered; raises OSError when it could not (it stays buffered)."""

    def flush(self) -> None:
        """`write_out`, blocking the caller (shutdown, `lamina logs`)."""

    def close(self) -> None: ...
    def drain_tapped(self) -> list[tuple[str, str, list[tuple[int, str]]]]:
        """(group, stream, events) appended to the tapped groups since the last call."""

    def watch_for(self, mark: str) -> None:
        """Keep appended events whose message contains `mark` for `drain_marked` (embedded metrics)."""

    def drain_marked(self) -> list[tuple[int, str]]: ...
    async def enforce_quota(self, quota_bytes: int) -> int:
        """The account's log quota: remove the least recently written streams past it; bytes freed."""

    async def refresh(self) -> None:
        """Another server sharing the store changed its groups: forget what is cached of them."""

    def list_streams(self, group: str) -> list[str]:
        """Oldest written first (`lamina logs`)."""

    def read(self, group: str, stream: str, *, start_index: int = 0) -> list[LogEvent]:
        """A stream's events in the order written; `start_index` skips that many."""


class MetricStore(Protocol):
    """Metric datapoints at CloudWatch's resolutions (domain/metrics/retention.py)."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def write(
        self, minutes: Mapping[MetricKey, Mapping[int, Aggregate]], units: Mapping[MetricKey, str]
    ) -> None:
        """Merge one-minute aggregates ({key: {minute start: aggregate}}) into every resolution."""

    async def read(self, key: MetricKey, resolution: int, start: int, end: int) -> dict[int, Aggregate]: ...
    async def series(self, namespace: str | None = None, name: str | None = None) -> list[SeriesInfo]: ...
    async def prune(self, now: float) -> int:
        """Drop what each resolution no longer keeps; how many datapoints went."""


class AlarmStore(Protocol):
    """Alarms (their records as DescribeAlarms answers them) and their history."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def load(self) -> list[dict[str, Any]]: ...
    async def put(self, name: str, record: dict[str, Any]) -> None: ...
    async def delete(self, names: list[str]) -> None: ...
    async def add_history(self, name: str, timestamp: float, record: dict[str, Any]) -> None: ...
    async def history(self, name: str | None, start: float, end: float) -> list[dict[str, Any]]: ...


class RecordingSink(Protocol):
    """Where an account-region's recorded invocations go (a worker's sends them to its primary)."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def add(self, recorded: Sequence[RecordedInvocation]) -> None:
        """Keep these recordings (durable when the awaited call returns; events sealed at rest)."""


class RecordingStore(RecordingSink, Protocol):
    """Recorded invocations of an account-region's functions (domain/recordings.py)."""

    async def recent(self, function: str, limit: int) -> list[RecordedInvocation]:
        """The newest first, without their events (payload empty, size set)."""

    async def get(self, function: str, request_id: str) -> RecordedInvocation | None:
        """One recording with its event."""

    async def prune(self, function: str, before: float, max_bytes: int) -> None:
        """Drop the function's recordings older than `before`, then the oldest past `max_bytes`."""

    async def forget(self, function: str) -> None:
        """Every recording of a function (deleted, or no longer recording)."""

    async def functions(self) -> list[str]:
        """The functions with recordings."""


class BillingStore(Protocol):
    """Usage per (month, function): requests and GB-seconds, added to as invocations end."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def add(self, usage: Mapping[tuple[str, str], tuple[int, int]]) -> None: ...
