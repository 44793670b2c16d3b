"""The CloudWatch Logs API of one account over its log store (CloudWatch Logs API reference).

Functions' log groups (`/aws/lambda/NAME`) appear here as soon as an environment writes to them;
users and tools can create their own groups and write with PutLogEvents. Retention is enforced on
read at once and by deleting expired events in the background. All time comes from `now_ms`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Iterator
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
from lamina.store.logs import FileLogStore, GroupInfo, StoredEvent, needle_of

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
    def __init__(self, store: FileLogStore, region: str, account_id: str, now_ms: Callable[[], int]) -> None:
        self.store = store
        self.region = region
        self.account_id = account_id
        self._now_ms = now_ms
        self._deleted_listeners: list[Callable[[str], None]] = []
        self._taps: dict[str, frozenset[str]] = {}

    def set_tap(self, owner: str, groups: frozenset[str]) -> None:
        """`owner` (subscription filters, metric filters) wants what is appended to `groups`."""
        self._taps[owner] = groups
        self.store.tap(frozenset().union(*self._taps.values()))

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
        if not self.store.delete_group(params["logGroupName"]):
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
            for name in self.store.list_groups()
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

    def expire(self) -> int:
        """Delete every expired event (the background retention sweep); returns how many."""
        removed = 0
        for group in self.store.list_groups():
            info = self.store.group_info(group)
            if info is not None and info.retention_days:
                removed += self.store.expire(group, self.retention_cutoff(info))
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
        group = params["logGroupName"]
        self.group_info(group)
        if not self.store.create_stream(group, params["logStreamName"]):
            raise already_exists("The specified log stream already exists")
        return {}

    async def delete_log_stream(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        group = params["logGroupName"]
        self.group_info(group)
        if not self.store.delete_stream(group, params["logStreamName"]):
            raise not_found(_STREAM_MISSING)
        return {}

    async def describe_log_streams(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        group = group_of(params, self.account_id)
        self.group_info(group)
        prefix = params.get("logStreamNamePrefix")
        by_time = params.get("orderBy") == "LastEventTime"
        if by_time and prefix is not None:
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        rows = []
        for name in self.store.list_streams(group):
            if prefix is not None and not name.startswith(prefix):
                continue
            stats = self.store.stream_stats(group, name)
            if stats is not None:
                rows.append((name, stats))
        if by_time:
            rows.sort(key=lambda row: (row[1].last_event_ms or 0, row[0]))
        else:
            rows.sort(key=lambda row: row[0])
        if params.get("descending"):
            rows.reverse()
        start = token_offset(params.get("nextToken"))
        limit = params.get("limit") or DEFAULT_DESCRIBE_LIMIT
        page = rows[start : start + limit]
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
        if start + limit < len(rows):
            output["nextToken"] = encode_token(start + limit)
        return output

    # events --------------------------------------------------------------------------------
    async def put_log_events(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
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
        group = group_of(params, self.account_id)
        stream = params["logStreamName"]
        info = self.group_info(group)
        if not self.store.has_stream(group, stream):
            raise not_found(_STREAM_MISSING)
        start_time = max(params.get("startTime") or 0, self.retention_cutoff(info))
        end_time = params.get("endTime")
        events = sorted(
            (
                event
                for event in self.store.read(group, stream)
                if event.timestamp_ms >= start_time and (end_time is None or event.timestamp_ms < end_time)
            ),
            key=lambda event: event.timestamp_ms,
        )
        limit = params.get("limit") or DEFAULT_EVENTS_LIMIT
        token = params.get("nextToken")
        if token is not None:
            direction, position = _position_token(token)
        else:
            direction, position = ("f", 0) if params.get("startFromHead") else ("b", len(events))
        if direction == "f":
            begin = min(position, len(events))
            end = min(begin + limit, len(events))
        else:
            end = min(position, len(events))
            begin = max(end - limit, 0)
        page = events[begin:end]
        forward = token if (token is not None and direction == "f" and not page) else f"f/{end:056d}"
        backward = token if (token is not None and direction == "b" and not page) else f"b/{begin:056d}"
        return {
            "events": [
                {
                    "timestamp": event.timestamp_ms,
                    "message": event.message,
                    "ingestionTime": event.ingestion_time_ms,
                }
                for event in page
            ],
            "nextForwardToken": forward,
            "nextBackwardToken": backward,
        }

    async def filter_log_events(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        group = group_of(params, self.account_id)
        info = self.group_info(group)
        names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise invalid("Cannot specify both logStreamNames and logStreamNamePrefix.")
        pattern = compile_filter(params.get("filterPattern"))
        streams = [
            stream
            for stream in self.store.list_streams(group)
            if (names is None or stream in names) and (prefix is None or stream.startswith(prefix))
        ]
        start_time = max(params.get("startTime") or 0, self.retention_cutoff(info))
        end_time = params.get("endTime")
        limit = params.get("limit") or DEFAULT_EVENTS_LIMIT
        after_key = token_event_key(params.get("nextToken"))
        needles = tuple(needle_of(term) for term in pattern.required)

        def matches(stream: str) -> Iterator[tuple[tuple[int, str, int], StoredEvent]]:
            for found in self.store.scan(
                group, stream, needles, json_messages=pattern.json_only, flush=False
            ):
                event = found.event
                if event.timestamp_ms < start_time or (
                    end_time is not None and event.timestamp_ms > end_time
                ):
                    continue
                key = (event.timestamp_ms, stream, found.offset)
                if after_key is not None and key <= after_key:
                    continue
                if pattern.matches(event.message):
                    yield key, found

        def search() -> list[tuple[tuple[int, str, int], StoredEvent]]:
            # Each stream is written in time order, so its first `limit + 1` matches are all it adds.
            merged = heapq.merge(
                *(itertools.islice(matches(stream), limit + 1) for stream in streams),
                key=lambda item: item[0],
            )
            return list(itertools.islice(merged, limit + 1))

        # list_streams() wrote every buffered event; the files are read off the event loop, so a long
        # search does not stall invocations for its whole length.
        found = await asyncio.to_thread(search)
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
                for _, item in page
            ],
            "searchedLogStreams": [
                {"logStreamName": stream, "searchedCompletely": len(found) <= limit} for stream in streams
            ],
        }
        if len(found) > limit:
            output["nextToken"] = encode_token(list(page[-1][0]))
        return output


def compile_filter(text: str | None) -> FilterPattern:
    try:
        return compile_pattern(text)
    except PatternError as error:
        raise invalid(f"Invalid filter pattern: {error}") from None


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


def _position_token(token: str) -> tuple[str, int]:
    direction, _, number = token.partition("/")
    if direction not in ("f", "b") or not number.isdigit():
        raise invalid("The specified nextToken is invalid.")
    return direction, int(number)
