"""Subscription filters: log events matching a filter's pattern are delivered to a Lambda function,
as CloudWatch Logs does (developer guide, "Subscription filters with AWS Lambda").

The function is invoked asynchronously as `logs.amazonaws.com` with the log group's ARN as source,
so its resource policy must allow that (`aws lambda add-permission --principal logs.amazonaws.com
--source-arn arn:aws:logs:…:log-group:NAME:*`); PutSubscriptionFilter checks it up front, as AWS
does. The event is `{"awslogs": {"data": base64(gzip(json))}}` with messageType DATA_MESSAGE, the
owner account, group, stream, filter names and the matching events.

Matching and delivery run off the invocation path: the log store keeps a copy of what is appended
to subscribed groups, and `deliver()` (the server's flush loop calls it) sends it on.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
from dataclasses import dataclass
from typing import Any

from lamina.domain.log_patterns import FilterPattern
from lamina.errors import AwsError
from lamina.observability.logs.names import encode_token, invalid, token_name
from lamina.observability.logs.service import DEFAULT_DESCRIBE_LIMIT, LogsService, compile_filter, not_found
from lamina.triggers.service_invoker import ServiceInvoker

_log = logging.getLogger(__name__)
LOGS_SERVICE = "logs.amazonaws.com"
MAX_FILTERS_PER_GROUP = 2
# Each delivery is one Event invocation: keep its payload well under the 1 MB limit.
MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = 256 * 1024
SUBSCRIPTION_OPERATIONS = ("PutSubscriptionFilter", "DescribeSubscriptionFilters", "DeleteSubscriptionFilter")
_CANNOT_INVOKE = (
    "Could not execute the lambda function. Make sure you have given CloudWatch Logs permission to "
    "execute your function."
)


@dataclass(frozen=True, slots=True)
class _Filter:
    name: str
    pattern: FilterPattern
    destination: str


class SubscriptionFilters:
    def __init__(self, logs: LogsService, invoker: ServiceInvoker) -> None:
        self._logs = logs
        self._invoker = invoker
        self._filters: dict[str, dict[str, _Filter]] = {}  # group -> name -> filter
        self._sequence = 0
        logs.on_group_deleted(self._forget_group)

    def restore(self) -> None:
        """Load every group's filters (at start)."""
        store = self._logs.store
        for group in store.list_groups():
            info = store.group_info(group)
            if info is not None and info.subscription_filters:
                self._filters[group] = {
                    name: _Filter(name, compile_filter(spec["filterPattern"]), spec["destinationArn"])
                    for name, spec in info.subscription_filters.items()
                }
        self._retap()

    def _retap(self) -> None:
        self._logs.set_tap(
            "subscriptions", frozenset(group for group, filters in self._filters.items() if filters)
        )

    def _forget_group(self, group: str) -> None:
        if self._filters.pop(group, None) is not None:
            self._retap()

    # API -----------------------------------------------------------------------------------
    async def put_subscription_filter(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        group, name = params["logGroupName"], params["filterName"]
        info = self._logs.group_info(group)
        pattern = compile_filter(params["filterPattern"])
        destination = params["destinationArn"]
        if not destination.startswith("arn:aws:lambda:"):
            raise invalid("Lamina delivers subscription filters to Lambda functions only.")
        if destination.split(":")[6:7] == [group.removeprefix("/aws/lambda/")] and group.startswith(
            "/aws/lambda/"
        ):
            raise invalid("A function cannot subscribe to its own log group: every delivery would log again.")
        if name not in info.subscription_filters and len(info.subscription_filters) >= MAX_FILTERS_PER_GROUP:
            raise AwsError("LimitExceededException", "Resource limit exceeded.", 400)
        source_arn = self._logs.group_arn(group)
        if not await self._invoker.allowed(LOGS_SERVICE, destination, source_arn, self._logs.account_id):
            raise invalid(_CANNOT_INVOKE)
        info.subscription_filters[name] = {
            "filterPattern": params["filterPattern"],
            "destinationArn": destination,
            "distribution": params.get("distribution") or "ByLogStream",
            "creationTime": self._logs.now_ms(),
        }
        self._logs.store.update_group(group, info)
        self._filters.setdefault(group, {})[name] = _Filter(name, pattern, destination)
        self._retap()
        return {}

    async def describe_subscription_filters(
        self, params: dict[str, Any], context: object = None
    ) -> dict[str, Any]:
        group = params["logGroupName"]
        info = self._logs.group_info(group)
        prefix = params.get("filterNamePrefix") or ""
        after = token_name(params.get("nextToken"))
        names = sorted(name for name in info.subscription_filters if name.startswith(prefix))
        names = [name for name in names if after is None or name > after]
        limit = params.get("limit") or DEFAULT_DESCRIBE_LIMIT
        page = names[:limit]
        output: dict[str, Any] = {
            "subscriptionFilters": [
                {
                    "filterName": name,
                    "logGroupName": group,
                    "filterPattern": info.subscription_filters[name]["filterPattern"],
                    "destinationArn": info.subscription_filters[name]["destinationArn"],
                    "distribution": info.subscription_filters[name]["distribution"],
                    "creationTime": info.subscription_filters[name]["creationTime"],
                }
                for name in page
            ]
        }
        if len(names) > limit:
            output["nextToken"] = encode_token(page[-1])
        return output

    async def delete_subscription_filter(
        self, params: dict[str, Any], context: object = None
    ) -> dict[str, Any]:
        group, name = params["logGroupName"], params["filterName"]
        info = self._logs.group_info(group)
        if info.subscription_filters.pop(name, None) is None:
            raise not_found("The specified subscription filter does not exist.")
        self._logs.store.update_group(group, info)
        self._filters.get(group, {}).pop(name, None)
        self._retap()
        return {}

    # delivery ------------------------------------------------------------------------------
    async def deliver(self, appended: list[tuple[str, str, list[tuple[int, str]]]]) -> int:
        """Send what was appended to subscribed groups (the store's tapped events since the last
        call); returns how many invocations were queued."""
        queued = 0
        for group, stream, events in appended:
            for log_filter in list(self._filters.get(group, {}).values()):
                matching = [
                    (timestamp, message)
                    for timestamp, message in events
                    if log_filter.pattern.matches(message)
                ]
                for batch in _batches(matching):
                    payload = self._payload(group, stream, log_filter.name, batch)
                    request_id = await self._invoker.invoke_event(
                        LOGS_SERVICE,
                        log_filter.destination,
                        payload,
                        self._logs.group_arn(group),
                        self._logs.account_id,
                    )
                    queued += request_id is not None
        return queued

    def _payload(self, group: str, stream: str, filter_name: str, events: list[tuple[int, str]]) -> bytes:
        log_events = []
        for timestamp, message in events:
            self._sequence += 1
            log_events.append(
                {"id": f"{timestamp}{self._sequence:020d}", "timestamp": timestamp, "message": message}
            )
        document = {
            "messageType": "DATA_MESSAGE",
            "owner": self._logs.account_id,
            "logGroup": group,
            "logStream": stream,
            "subscriptionFilters": [filter_name],
            "logEvents": log_events,
        }
        data = base64.b64encode(gzip.compress(json.dumps(document).encode())).decode()
        return json.dumps({"awslogs": {"data": data}}).encode()


def _batches(events: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    batches: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    size = 0
    for event in events:
        event_size = len(event[1]) + 64
        if current and (len(current) >= MAX_BATCH_EVENTS or size + event_size > MAX_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(event)
        size += event_size
    if current:
        batches.append(current)
    return batches
