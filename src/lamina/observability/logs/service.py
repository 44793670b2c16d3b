"""The CloudWatch Logs API of one account over its log store (CloudWatch Logs API reference).

Functions' log groups (`/aws/lambda/NAME`) appear here as soon as an environment writes to them;
users and tools can create their own groups and write with PutLogEvents. Retention is enforced on
read at once and by deleting expired events in the background. All time comes from `now_ms`.

Reads share the event loop with invocations, so the store (a `LogQueryStore`, store/ports.py) reads,
lists and removes off the loop, and a read touches only what it returns: GetLogEvents pages by the
store's positions (its tokens carry them), DescribeLogStreams uses the stream stats the store keeps
in memory, and nothing is flushed to be read (events still buffered are read from memory).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import Callable
from typing import Any

from lamina.domain.log_patterns import FilterPattern, PatternError, compile_pattern
from lamina.errors import AwsError
from lamina.observability.logs.names import (
    encode_token,
    group_arn,
    group_of,
    invalid,
    stream_arn,
    token_event_key,
    token_name,
    token_offset,
)
from lamina.store.ports import (
    GroupInfo,
    InvalidLogPosition,
    LogQueryStore,
    PageQuery,
    SearchQuery,
    TimeWindow,
)

_log = logging.getLogger(__name__)

# PutRetentionPolicy's allowed values (the Days shape's documentation).
RETENTION_DAYS = frozenset(
    (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
)
DAY_MS = 86_400_000
# PutLogEvents quotas: events at most 14 days old or 2 hours ahead; a batch spans at most 24 hours
# and holds at most 1 MiB, counting 26 bytes per event.
MAX_AGE_MS = 14 * DAY_MS
MAX_AHEAD_MS = 2 * 3_600_000
MAX_BATCH_SPAN_MS = DAY_MS
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
DEFAULT_EVENTS_LIMIT = 10_000
DEFAULT_DESCRIBE_LIMIT = 50
_GROUP_MISSING = "The specified log group does not exist."
_STREAM_MISSING = "The specified log stream does not exist."

LOGS_OPERATIONS = (
    "CreateLogGroup",
    "DeleteLogGroup",
    "DescribeLogGroups",
    "CreateLogStream",
    "DeleteLogStream",
    "DescribeLogStreams",
    "PutLogEvents",
    "GetLogEvents",
    "FilterLogEvents",
    "PutRetentionPolicy",
    "DeleteRetentionPolicy",
    "ListTagsLogGroup",
    "TagLogGroup",
    "UntagLogGroup",
)


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message, 400)


def already_exists(message: str) -> AwsError:
    return AwsError("ResourceAlreadyExistsException", message, 400)


class LogsService:
    def __init__(self, store: LogQueryStore, region: str, account_id: str, now_ms: Callable[[], int]) -> None:
        self.store = store
        self.region = region
        self.account_id = account_id
        self._now_ms = now_ms
        self._deleted_listeners: list[Callable[[str], None]] = []
        self._taps: dict[str, frozenset[str]] = {}
        self._sweep: asyncio.Task[int] | None = None
        # Told the tapped groups after each change: workers tap their own log stores the same way.
        self.on_taps: Callable[[frozenset[str]], None] | None = None

    def set_tap(self, owner: str, groups: frozenset[str]) -> None:
        """`owner` (subscription filters, metric filters) wants what is appended to `groups`."""
        self._taps[owner] = groups
        self.store.tap(self.tapped_groups)
        if self.on_taps is not None:
            self.on_taps(self.tapped_groups)

    @property
    def tapped_groups(self) -> frozenset[str]:
        return frozenset().union(*self._taps.values())

    def now_ms(self) -> int:
        return self._now_ms()

    def on_group_deleted(self, listener: Callable[[str], None]) -> None:
        self._deleted_listeners.append(listener)

    # groups --------------------------------------------------------------------------------
    def group_info(self, group: str) -> GroupInfo:
        info = self.store.group_info(group)
        if info is None:
            raise not_found(_GROUP_MISSING)
        return info

    def group_arn(self, group: str) -> str:
        return group_arn(self.region, self.account_id, group)

    def retention_cutoff(self, info: GroupInfo) -> int:
        """Events with earlier timestamps have expired (0: none have)."""
        return self._now_ms() - info.retention_days * DAY_MS if info.retention_days else 0

    async def create_log_group(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        if params.get("kmsKeyId"):
            raise invalid("Lamina does not encrypt log groups with KMS keys.")
        if not self.store.create_group(params["logGroupName"], params.get("tags")):
            raise already_exists("The specified log group already exists")
        return {}

    async def delete_log_group(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        if not await self.store.remove_group(params["logGroupName"]):
            raise not_found(_GROUP_MISSING)
        for listener in self._deleted_listeners:
            listener(params["logGroupName"])
        return {}

    async def describe_log_groups(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        prefix = params.get("logGroupNamePrefix")
        pattern = params.get("logGroupNamePattern")
        if prefix is not None and pattern is not None:
            raise invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        after = token_name(params.get("nextToken"))
        names = [
            name
            for name in await self.store.groups()
            if (prefix is None or name.startswith(prefix))
            and (not pattern or pattern.lower() in name.lower())
            and (after is None or name > after)
        ]
        identifiers = params.get("logGroupIdentifiers")
        if identifiers:
            wanted = {group_of({"logGroupIdentifier": item}, self.account_id) for item in identifiers}
            names = [name for name in names if name in wanted]
        limit = params.get("limit") or DEFAULT_DESCRIBE_LIMIT
        page = names[:limit]
        groups = []
        for name in page:
            info = self.store.group_info(name)
            if info is None:
                continue
            arn = self.group_arn(name)
            groups.append(
                {
                    "logGroupName": name,
                    "creationTime": info.created_ms,
                    "retentionInDays": info.retention_days,
                    "metricFilterCount": len(info.metric_filters),
                    "arn": arn,
                    "logGroupArn": arn.removesuffix(":*"),
                    "storedBytes": 0,
                    "logGroupClass": "STANDARD",
                    "deletionProtectionEnabled": False,
                }
            )
        output: dict[str, Any] = {"logGroups": groups}
        if len(names) > limit:
            output["nextToken"] = encode_token(page[-1])
        return output

    async def put_retention_policy(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        days = params["retentionInDays"]
        if days not in RETENTION_DAYS:
            allowed = ", ".join(str(value) for value in sorted(RETENTION_DAYS))
            raise invalid(
                f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy "
                f"constraint: Member must satisfy enum value set: [{allowed}]"
            )
        info = self.group_info(params["logGroupName"])
        info.retention_days = days
        self.store.update_group(params["logGroupName"], info)
        return {}

    async def delete_retention_policy(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        info = self.group_info(params["logGroupName"])
        info.retention_days = None
        self.store.update_group(params["logGroupName"], info)
        return {}

    def expire(self) -> None:
        """Start the retention sweep in the background unless one is still running (the server
        calls this every minute; a sweep over large groups may take longer than that)."""
        if self._sweep is None or self._sweep.done():
            self._sweep = asyncio.get_running_loop().create_task(self.expire_now())
            self._sweep.add_done_callback(_report_failure)

    async def expire_now(self) -> int:
        """Delete expired events (see LogQueryStore.expire_group); returns how many."""
        await asyncio.to_thread(self.store.sweep_removed)
        removed = 0
        for group in await self.store.groups():
            info = self.store.group_info(group)
            if info is not None and info.retention_days:
                removed += await self.store.expire_group(group, self.retention_cutoff(info))
        return removed

    async def list_tags_log_group(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        return {"tags": self.group_info(params["logGroupName"]).tags}

    async def tag_log_group(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        info = self.group_info(params["logGroupName"])
        info.tags.update(params["tags"])
        self.store.update_group(params["logGroupName"], info)
        return {}

    async def untag_log_group(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        info = self.group_info(params["logGroupName"])
        for key in params["tags"]:
            info.tags.pop(key, None)
        self.store.update_group(params["logGroupName"], info)
        return {}

    # streams -------------------------------------------------------------------------------
    async def create_log_stream(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        _check_stream_names(params)
        group = params["logGroupName"]
        self.group_info(group)
        if not self.store.create_stream(group, params["logStreamName"]):
            raise already_exists("The specified log stream already exists")
        return {}

    async def delete_log_stream(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        _check_stream_names(params)
        group = params["logGroupName"]
        self.group_info(group)
        if not await self.store.remove_stream(group, params["logStreamName"]):
            raise not_found(_STREAM_MISSING)
        return {}

    async def describe_log_streams(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        _check_stream_names(params)
        group = group_of(params, self.account_id)
        self.group_info(group)
        prefix = params.get("logStreamNamePrefix")
        by_time = params.get("orderBy") == "LastEventTime"
        if by_time and prefix is not None:
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        start = token_offset(params.get("nextToken"))
        limit = params.get("limit") or DEFAULT_DESCRIBE_LIMIT
        names = [
            name for name in await self.store.stream_names(group) if prefix is None or name.startswith(prefix)
        ]
        if by_time:
            # Every stream's last event time decides the order: stats are read once per stream and
            # then kept in memory, so only the first call for a group reads files.
            stats = await self.store.stats_of(group, names)
            rows = sorted(stats.items(), key=lambda row: (row[1].last_event_ms or 0, row[0]))
            if params.get("descending"):
                rows.reverse()
            total = len(rows)
            page = rows[start : start + limit]
        else:
            # By name, only the page's streams need stats.
            if params.get("descending"):
                names.reverse()
            total = len(names)
            wanted = names[start : start + limit]
            stats = await self.store.stats_of(group, wanted)
            page = [(name, stats[name]) for name in wanted if name in stats]
        streams = [
            {
                "logStreamName": name,
                "creationTime": stats.created_ms,
                "firstEventTimestamp": stats.first_event_ms,
                "lastEventTimestamp": stats.last_event_ms,
                "lastIngestionTime": stats.last_ingestion_ms,
                "uploadSequenceToken": str(stats.stored_bytes + 1),
                "arn": stream_arn(self.region, self.account_id, group, name),
                "storedBytes": 0,
            }
            for name, stats in page
        ]
        output: dict[str, Any] = {"logStreams": streams}
        if start + limit < total:
            output["nextToken"] = encode_token(start + limit)
        return output

    # events --------------------------------------------------------------------------------
    async def put_log_events(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        _check_stream_names(params)
        group, stream = params["logGroupName"], params["logStreamName"]
        info = self.group_info(group)
        if not self.store.has_stream(group, stream):
            raise not_found(_STREAM_MISSING)
        events = [(int(event["timestamp"]), str(event["message"])) for event in params["logEvents"]]
        _check_batch(events)
        now = self._now_ms()
        too_old_before = max(now - MAX_AGE_MS, self.retention_cutoff(info))
        rejected: dict[str, int] = {}
        first = 0
        while first < len(events) and events[first][0] < too_old_before:
            first += 1
        if first:
            key = (
                "expiredLogEventEndIndex"
                if events[first - 1][0] >= now - MAX_AGE_MS
                else "tooOldLogEventEndIndex"
            )
            rejected[key] = first
        last = len(events)
        while last > first and events[last - 1][0] > now + MAX_AHEAD_MS:
            last -= 1
        if last < len(events):
            rejected["tooNewLogEventStartIndex"] = last
        self.store.append(group, stream, events[first:last], ingested=now)
        output: dict[str, Any] = {"nextSequenceToken": f"{now:056d}"}
        if rejected:
            output["rejectedLogEventsInfo"] = rejected
        return output

    async def get_log_events(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        _check_stream_names(params)
        group = group_of(params, self.account_id)
        stream = params["logStreamName"]
        info = self.group_info(group)
        window = TimeWindow(
            max(params.get("startTime") or 0, self.retention_cutoff(info)), params.get("endTime")
        )
        limit = params.get("limit") or DEFAULT_EVENTS_LIMIT
        token = params.get("nextToken")
        position: int | None
        if token is not None:
            direction, position = _position_token(token)
        else:
            direction, position = ("f", 0) if params.get("startFromHead") else ("b", None)
        # A read bounded by time visits only the parts of the stream that hold such times.
        query = PageQuery(
            window,
            forward=direction == "f",
            position=position,
            limit=limit,
            use_time_index=_bounded_by_time(params),
        )
        try:
            found = await self.store.read_page(group, stream, query)
        except InvalidLogPosition:
            raise invalid("The specified nextToken is invalid.") from None
        if found is None:
            raise not_found(_STREAM_MISSING)
        page, origin = found
        events = page.events
        # A token pointing past the last event comes back unchanged, as on AWS: that is how a
        # reader knows it has reached the end.
        if direction == "f":
            forward = token if (token is not None and not events) else f"f/{page.resume:056d}"
            backward = f"b/{events[0].offset if events else origin:056d}"
        else:
            backward = token if (token is not None and not events) else f"b/{page.resume:056d}"
            forward = f"f/{events[-1].end if events else origin:056d}"
        return {
            "events": [
                {
                    "timestamp": item.event.timestamp_ms,
                    "message": item.event.message,
                    "ingestionTime": item.event.ingestion_time_ms,
                }
                for item in events
            ],
            "nextForwardToken": forward,
            "nextBackwardToken": backward,
        }

    async def filter_log_events(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        _check_stream_names(params)
        group = group_of(params, self.account_id)
        info = self.group_info(group)
        names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise invalid("Cannot specify both logStreamNames and logStreamNamePrefix.")
        pattern = compile_filter(params.get("filterPattern"))
        streams = [
            stream
            for stream in await self.store.stream_names(group)
            if (names is None or stream in names) and (prefix is None or stream.startswith(prefix))
        ]
        start_time = max(params.get("startTime") or 0, self.retention_cutoff(info))
        end_time = params.get("endTime")
        limit = params.get("limit") or DEFAULT_EVENTS_LIMIT
        after_key = token_event_key(params.get("nextToken"))
        window = TimeWindow(start_time, end_time, end_inclusive=True)
        query = SearchQuery(
            pattern, window, limit=limit, after=after_key, use_time_index=_bounded_by_time(params)
        )
        found = await self.store.search(group, streams, query)
        page = found[:limit]
        stream_numbers = {stream: number for number, stream in enumerate(streams)}
        output: dict[str, Any] = {
            "events": [
                {
                    "logStreamName": item.stream,
                    "timestamp": item.event.timestamp_ms,
                    "message": item.event.message,
                    "ingestionTime": item.event.ingestion_time_ms,
                    "eventId": f"{item.event.timestamp_ms}{stream_numbers[item.stream]:06d}{item.offset:012d}",
                }
                for item in page
            ],
            "searchedLogStreams": [
                {"logStreamName": stream, "searchedCompletely": len(found) <= limit} for stream in streams
            ],
        }
        if len(found) > limit:
            output["nextToken"] = encode_token(list(page[-1].key))
        return output


def _report_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("the log retention sweep failed", exc_info=task.exception())


def compile_filter(text: str | None) -> FilterPattern:
    try:
        return compile_pattern(text)
    except PatternError as error:
        raise invalid(f"Invalid filter pattern: {error}") from None


_STREAM_NAME_KEYS = ("logStreamName", "logStreamNamePrefix")
# No store keeps it in a name (a database's text column cannot hold it). (Unpaired surrogates
# never get this far: the JSON protocol refuses them.)
_UNNAMEABLE = re.compile("\x00")


def _check_stream_names(params: dict[str, Any]) -> None:
    """Stream names (which the model lets hold anything but ':' and '*') must not hold NUL: no
    stream can be named so."""
    names = [(key, params[key]) for key in _STREAM_NAME_KEYS if isinstance(params.get(key), str)]
    names += [
        ("logStreamNames", name) for name in params.get("logStreamNames") or () if isinstance(name, str)
    ]
    for key, name in names:
        if _UNNAMEABLE.search(name):
            raise invalid(
                f"1 validation error detected: Value at '{key}' failed to satisfy constraint: "
                "Member must not contain NUL characters"
            )


def _check_batch(events: list[tuple[int, str]]) -> None:
    if any(later[0] < earlier[0] for earlier, later in itertools.pairwise(events)):
        raise invalid("Log events in a single PutLogEvents request must be in chronological order.")
    if events and events[-1][0] - events[0][0] > MAX_BATCH_SPAN_MS:
        raise invalid(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
        )
    size = sum(len(message.encode()) + EVENT_OVERHEAD_BYTES for _, message in events)
    if size > MAX_BATCH_BYTES:
        raise invalid(f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")


def _bounded_by_time(params: dict[str, Any]) -> bool:
    """Whether the call asks for a time range: then a store's time index is worth using (a read
    from either end needs none, and a stream's first indexed read reads it whole)."""
    return params.get("startTime") is not None or params.get("endTime") is not None


def _position_token(token: str) -> tuple[str, int]:
    direction, _, number = token.partition("/")
    # (ASCII digits only: str.isdigit() takes "²" and other scripts' digits, which int() may not.)
    if direction not in ("f", "b") or not (number.isascii() and number.isdigit()) or len(number) > 60:
        raise invalid("The specified nextToken is invalid.")
    return direction, int(number)
