"""Store interfaces. Every adapter honours these contracts; one conformance suite tests them all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lamina.domain.aliases import Alias
from lamina.domain.async_events import EventInvokeConfig, QueuedEvent
from lamina.domain.function_urls import FunctionUrlConfig
from lamina.domain.functions import FunctionConfig
from lamina.domain.layers import LayerVersion
from lamina.domain.metrics.aggregate import Aggregate
from lamina.domain.metrics.series import MetricKey, SeriesInfo


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
    async def put_function(self, config: FunctionConfig) -> None:
        """Insert or replace the $LATEST configuration."""

    async def get_function(self, name: str) -> FunctionConfig | None: ...
    async def list_functions(self) -> list[FunctionConfig]:
        """$LATEST configurations ordered by name."""

    async def delete_function(self, name: str) -> None:
        """Delete the function with everything that belongs to it: published versions, aliases,
        reserved and provisioned concurrency, resource policies, tags, event invoke and recursion
        configs, function URLs."""

    async def put_version(self, config: FunctionConfig) -> None:
        """Store an immutable published version; the (name, version) pair must be new."""

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


class BillingStore(Protocol):
    """Usage per (month, function): requests and GB-seconds, added to as invocations end."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def add(self, usage: Mapping[tuple[str, str], tuple[int, int]]) -> None: ...
