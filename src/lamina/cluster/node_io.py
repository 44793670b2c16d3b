"""What a gateway and the nodes of its Ray cluster (`lamina server --cluster`) exchange, and what a
node has instead of the gateway's disk.

A node has no share of the gateway's data directory: its environments' log lines are collected in
memory and go back to the gateway with each invocation's result (`CollectingLogStore`), and code
packages are downloaded from the gateway through its signed code links, checked against their
SHA-256 and cached on the node (`DownloadedBlobs` under the node's code cache).
"""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from lamina.config import Settings
from lamina.domain.functions import FunctionConfig
from lamina.execution.environment import InvocationRequest, InvocationResult
from lamina.store.ports import BlobIntegrityError, LogEvent

Credentials = tuple[dict[str, str], float | None]

# What one stream may hold between two takes before its oldest events are dropped: an environment
# whose invocations never end (or a flood) must not grow the node's memory without bound.
MAX_PENDING_EVENTS = 100_000
DOWNLOAD_SECONDS = 60.0

LogLines = list[tuple[str, str, list[tuple[int, str]]]]  # (group, stream, [(timestamp ms, message)])


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """What the gateway starts a node's agent with."""

    settings: Settings  # the gateway's, for the sandbox, runtimes and keep-alive; data_dir is replaced
    gateway_url: str  # where functions reach Lamina's API and the node downloads code


@dataclass(frozen=True, slots=True)
class RunRequest:
    account_id: str
    region: str
    config: FunctionConfig
    request: InvocationRequest
    code_links: dict[str, str]  # SHA-256 -> the gateway's signed download link (code and layers)
    credentials: Credentials  # the execution role's variables for new environments, and their expiry


@dataclass(frozen=True, slots=True)
class RunAnswer:
    result: InvocationResult | None
    log_lines: list[tuple[int, str]]  # what the invocation's environment logged, for its stream
    log_group: str
    log_stream: str
    idle: int  # this node's idle environments of that configuration, once this one is back
    error: str | None = None  # "memory": no room on this node; "gone": its runtimes kept exiting


class CollectingLogStore:
    """The environments' LogStore on a node: appended events wait here for `take`."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self.dropped = 0

    def append(self, group: str, stream: str, events: Sequence[tuple[int, str]], ingested: int = 0) -> None:
        held = self._pending.setdefault((group, stream), [])
        held.extend(events)
        if len(held) > MAX_PENDING_EVENTS:
            excess = len(held) - MAX_PENDING_EVENTS
            del held[:excess]
            self.dropped += excess

    @property
    def backlog_bytes(self) -> int:
        return 0  # nothing waits for a disk here; the gateway's log budget applies when it appends

    def take(self, group: str, stream: str) -> list[tuple[int, str]]:
        """The events of one stream appended since the last take."""
        return self._pending.pop((group, stream), [])

    def take_all(self) -> LogLines:
        pending, self._pending = self._pending, {}
        return [(group, stream, events) for (group, stream), events in pending.items()]

    # The rest of LogStore: nothing is read back on a node.
    def list_streams(self, group: str) -> list[str]:
        return sorted({stream for known, stream in self._pending if known == group})

    def read(self, group: str, stream: str, *, start_index: int = 0) -> list[LogEvent]:
        return []

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self._pending.clear()


class DownloadedBlobs:
    """A BlobStore that reads code packages from the gateway's signed links (`links[sha]`, kept
    current by the invocations that need them)."""

    def __init__(self) -> None:
        self.links: dict[str, str] = {}

    def get(self, sha256_hex: str) -> bytes:
        link = self.links.get(sha256_hex)
        if link is None:
            raise BlobIntegrityError(f"no link to code package {sha256_hex} was given to this node")
        with urllib.request.urlopen(link, timeout=DOWNLOAD_SECONDS) as response:
            data: bytes = response.read()
        if hashlib.sha256(data).hexdigest() != sha256_hex:
            raise BlobIntegrityError(
                f"the code package downloaded for {sha256_hex} does not match its SHA-256"
            )
        return data

    def exists(self, sha256_hex: str) -> bool:
        return sha256_hex in self.links

    def put(self, sha256_hex: str, data: bytes) -> None:
        raise NotImplementedError("a node never stores code packages: the gateway does")

    def delete(self, sha256_hex: str) -> None:
        return None

    def digests(self) -> set[str]:
        return set(self.links)

    def close(self) -> None:
        return None
