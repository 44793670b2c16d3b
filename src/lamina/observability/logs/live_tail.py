"""StartLiveTail: a session streams the events appended to up to ten log groups, as they are
ingested (CloudWatch Logs API reference). The stream opens with a `sessionStart` event and sends
a `sessionUpdate` every second, with the new matching events (at most 500; more are sampled) or
none; after three hours it ends with SessionTimeoutException, as AWS's does.

Sessions read the log store's tap like subscription filters do: `publish()` (the server's flush
loop) hands each session what was appended to its groups.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lamina.domain.log_patterns import FilterPattern
from lamina.observability.logs.names import group_arn, invalid
from lamina.observability.logs.service import LogsService, compile_filter, not_found

MAX_GROUPS = 10
MAX_EVENTS_PER_UPDATE = 500
UPDATE_SECONDS = 1.0
SESSION_SECONDS = 3 * 3600
LIVE_TAIL_OPERATIONS = ("StartLiveTail",)


@dataclass(slots=True, eq=False)  # sessions are kept in a set, by identity
class _Session:
    groups: dict[str, str]  # group name -> the identifier the caller gave
    stream_names: frozenset[str] | None
    stream_prefixes: tuple[str, ...] | None
    pattern: FilterPattern
    pending: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False

    def wants(self, stream: str) -> bool:
        if self.stream_names is not None and stream not in self.stream_names:
            return False
        return self.stream_prefixes is None or stream.startswith(self.stream_prefixes)


class LiveTail:
    def __init__(self, logs: LogsService, *, update_seconds: float = UPDATE_SECONDS) -> None:
        self._logs = logs
        self._sessions: set[_Session] = set()
        self._update_seconds = update_seconds

    def _retap(self) -> None:
        self._logs.set_tap(
            "live-tail", frozenset(group for session in self._sessions for group in session.groups)
        )

    def _group_of(self, identifier: str) -> str:
        """Identifiers are ARNs (`arn:aws:logs:R:A:log-group:NAME`, no `:*`) or names."""
        if not identifier.startswith("arn:"):
            return identifier
        parts = identifier.split(":")
        if len(parts) != 7 or parts[2] != "logs" or parts[5] != "log-group":
            raise invalid(f"Invalid log group identifier: {identifier}")
        if parts[4] != self._logs.account_id:
            raise not_found(f"The specified log group does not exist: {identifier}")
        return parts[6]

    async def start_live_tail(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        identifiers = params["logGroupIdentifiers"]
        if not 1 <= len(identifiers) <= MAX_GROUPS:
            raise invalid(f"Between 1 and {MAX_GROUPS} log group identifiers are allowed.")
        names, prefixes = params.get("logStreamNames"), params.get("logStreamNamePrefixes")
        if names and prefixes:
            raise invalid("logStreamNames and logStreamNamePrefixes cannot both be given.")
        if (names or prefixes) and len(identifiers) > 1:
            raise invalid("Log stream filters need exactly one log group identifier.")
        groups: dict[str, str] = {}
        for identifier in identifiers:
            group = self._group_of(identifier)
            if self._logs.store.group_info(group) is None:
                raise not_found(f"The specified log group does not exist: {identifier}")
            groups[group] = (
                identifier
                if identifier.startswith("arn:")
                else group_arn(self._logs.region, self._logs.account_id, group).removesuffix(":*")
            )
        session = _Session(
            groups,
            frozenset(names) if names else None,
            tuple(prefixes) if prefixes else None,
            compile_filter(params.get("logEventFilterPattern")),
        )
        start = {
            "requestId": str(uuid.uuid4()),
            "sessionId": str(uuid.uuid4()),
            "logGroupIdentifiers": identifiers,
            **({"logStreamNames": names} if names else {}),
            **({"logStreamNamePrefixes": prefixes} if prefixes else {}),
            **(
                {"logEventFilterPattern": params["logEventFilterPattern"]}
                if params.get("logEventFilterPattern")
                else {}
            ),
        }
        self._sessions.add(session)
        self._retap()
        return {"responseStream": self._stream(session, start)}

    async def _stream(
        self, session: _Session, start: Mapping[str, Any]
    ) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
        try:
            yield "sessionStart", start
            loop = asyncio.get_running_loop()
            ends = loop.time() + SESSION_SECONDS
            while not session.closed:
                await asyncio.sleep(self._update_seconds)
                if loop.time() >= ends:
                    yield "SessionTimeoutException", {"message": "Session timed out after three hours."}
                    return
                events, session.pending = session.pending, []
                sampled = len(events) > MAX_EVENTS_PER_UPDATE
                if sampled:
                    events = sorted(
                        random.sample(events, MAX_EVENTS_PER_UPDATE), key=lambda item: item["timestamp"]
                    )
                yield "sessionUpdate", {"sessionMetadata": {"sampled": sampled}, "sessionResults": events}
        finally:
            self._sessions.discard(session)
            self._retap()

    def publish(self, appended: list[tuple[str, str, list[tuple[int, str]]]], ingested_ms: int) -> None:
        """Hand every session the appended events it follows."""
        if not self._sessions:
            return
        for group, stream, events in appended:
            for session in self._sessions:
                if group not in session.groups or not session.wants(stream):
                    continue
                for timestamp, message in events:
                    if session.pattern.matches(message):
                        session.pending.append(
                            {
                                "logStreamName": stream,
                                "logGroupIdentifier": session.groups[group],
                                "message": message,
                                "timestamp": timestamp,
                                "ingestionTime": ingested_ms,
                            }
                        )
                # Keep memory bounded if a client stops reading: AWS keeps at most 5,000 events.
                del session.pending[:-5000]

    def close(self) -> None:
        """End every session (server shutdown)."""
        for session in self._sessions:
            session.closed = True
