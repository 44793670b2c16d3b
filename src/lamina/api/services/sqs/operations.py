"""The SQS operations: decoded params in, the service called, the wire output back. Queue URLs are
`<endpoint>/<account>/<queue name>` (the endpoint as the caller addressed it); the region is the
one the request was signed for, as for every Lamina API."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from lamina.api.context import OperationResult, RequestContext
from lamina.domain.queues import errors
from lamina.domain.queues.attributes import bounded, queue_arn
from lamina.domain.queues.messages import (
    Message,
    attributes_md5,
    body_md5,
    checked_attributes,
    from_record_attributes,
)
from lamina.domain.queues.records import QueueKey, QueueRecord
from lamina.errors import AwsError
from lamina.sources.queues.service import Outgoing, QueueService, handle_of

_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
MAX_BATCH_BYTES = 262_144
# Authorises an operation on a queue (its key, and its record when it exists).
Authorize = Callable[[str, RequestContext, QueueKey, QueueRecord | None], None]


def queue_url(context: RequestContext, queue: QueueRecord) -> str:
    return f"{context.base_url}/{queue.account_id}/{queue.name}"


def key_of(url: str, context: RequestContext) -> QueueKey:
    path = urlsplit(url).path if "://" in url else url
    parts = [part for part in path.split("/") if part]
    if len(parts) != 2:
        raise errors.no_such_queue()
    return parts[0], context.region, parts[1]


class SqsOperations:
    def __init__(self, service: QueueService, authorize: Authorize) -> None:
        self._service = service
        self._authorize = authorize

    async def _queue(self, operation: str, params: Mapping[str, Any], context: RequestContext) -> QueueRecord:
        key = key_of(str(params["QueueUrl"]), context)
        queue = await self._service.find_queue(key)
        self._authorize(operation, context, key, queue)
        if queue is None:
            raise errors.no_such_queue()
        return queue

    # queues --------------------------------------------------------------------------------
    async def create_queue(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account = context.principal.account
        key = (account, context.region, str(params["QueueName"]))
        self._authorize("CreateQueue", context, key, None)
        queue = await self._service.create_queue(
            account, context.region, key[2], params.get("Attributes") or {}, params.get("tags") or {}
        )
        return OperationResult({"QueueUrl": queue_url(context, queue)})

    async def get_queue_url(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account = params.get("QueueOwnerAWSAccountId") or context.principal.account
        key = (str(account), context.region, str(params["QueueName"]))
        queue = await self._service.find_queue(key)
        self._authorize("GetQueueUrl", context, key, queue)
        if queue is None:
            raise errors.no_such_queue()
        return OperationResult({"QueueUrl": queue_url(context, queue)})

    async def list_queues(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account = context.principal.account
        self._authorize("ListQueues", context, (account, context.region, "*"), None)
        queues = await self._service.list_queues(account, context.region, params.get("QueueNamePrefix") or "")
        limit = params.get("MaxResults")
        bounded("MaxResults", limit, 1, 1000, "MaxResults must be an integer between 1 and 1000.")
        start = 0
        token = params.get("NextToken")
        if token:
            start = next((i for i, queue in enumerate(queues) if queue.name > token), len(queues))
        page = queues[start : start + limit] if limit else queues[start : start + 1000]
        output: dict[str, Any] = {"QueueUrls": [queue_url(context, queue) for queue in page] or None}
        if limit and start + limit < len(queues):
            output["NextToken"] = page[-1].name
        return OperationResult(output)

    async def delete_queue(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        queue = await self._queue("DeleteQueue", params, context)
        await self._service.delete_queue(queue.key)
        return OperationResult({})

    async def get_queue_attributes(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        queue = await self._queue("GetQueueAttributes", params, context)
        names = params.get("AttributeNames") or []
        values = await self._service.attributes(queue.key, names) if names else {}
        return OperationResult({"Attributes": values or None})

    async def set_queue_attributes(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        queue = await self._queue("SetQueueAttributes", params, context)
        await self._service.set_attributes(queue.key, params.get("Attributes") or {})
        return OperationResult({})

    async def purge_queue(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        queue = await self._queue("PurgeQueue", params, context)
        await self._service.purge(queue.key)
        return OperationResult({})

    async def tag_queue(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        queue = await self._queue("TagQueue", params, context)
        await self._service.tag(queue.key, params.get("Tags") or {})
        return OperationResult({})

    async def untag_queue(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        queue = await self._queue("UntagQueue", params, context)
        await self._service.untag(queue.key, params.get("TagKeys") or [])
        return OperationResult({})

    async def list_queue_tags(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        queue = await self._queue("ListQueueTags", params, context)
        return OperationResult({"Tags": dict(queue.tags) or None})

    async def list_dead_letter_source_queues(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        queue = await self._queue("ListDeadLetterSourceQueues", params, context)
        arn = queue_arn(queue.region, queue.account_id, queue.name)
        sources = []
        for candidate in await self._service.list_queues(queue.account_id, queue.region):
            if f'"deadLetterTargetArn":"{arn}"' in candidate.attributes.get("RedrivePolicy", ""):
                sources.append(queue_url(context, candidate))
        return OperationResult({"queueUrls": sources})

    # messages ------------------------------------------------------------------------------
    async def send_message(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        queue = await self._queue("SendMessage", params, context)
        outgoing = _outgoing(params, context)
        (message,) = await self._service.send(
            queue.key, [outgoing], context.principal.user_id or queue.account_id
        )
        return OperationResult(_sent(message, outgoing))

    async def send_message_batch(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        queue = await self._queue("SendMessageBatch", params, context)
        entries = _entries(params, "SendMessageBatchRequestEntry")
        size = sum(len(str(entry.get("MessageBody", "")).encode()) for entry in entries)
        if size > MAX_BATCH_BYTES:
            raise errors.batch_too_long(size)
        accepted: list[tuple[str, Outgoing]] = []
        failed: list[dict[str, Any]] = []
        for entry in entries:
            try:
                outgoing = _outgoing(entry, context)
                self._service.check(queue, outgoing)
                accepted.append((str(entry["Id"]), outgoing))
            except AwsError as error:
                failed.append(_failure(str(entry["Id"]), error))
        sent = await self._service.send(
            queue.key, [outgoing for _, outgoing in accepted], context.principal.user_id or queue.account_id
        )
        successful = [
            {"Id": entry_id, **_sent(message, outgoing)}
            for (entry_id, outgoing), message in zip(accepted, sent, strict=True)
        ]
        return OperationResult({"Successful": successful, "Failed": failed})

    async def receive_message(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        queue = await self._queue("ReceiveMessage", params, context)
        limit = params.get("MaxNumberOfMessages")
        bounded("MaxNumberOfMessages", limit, 1, 10, "Must be between 1 and 10, if provided.")
        wait = params.get("WaitTimeSeconds")
        bounded("WaitTimeSeconds", wait, 0, 20, "Must be >= 0 and <= 20, if provided.")
        visibility = params.get("VisibilityTimeout")
        bounded("VisibilityTimeout", visibility, 0, 43_200, "Must be between 0 and 43200, if provided.")
        messages = await self._service.receive(queue.key, limit or 1, visibility, wait)
        system = set(params.get("AttributeNames") or []) | set(
            params.get("MessageSystemAttributeNames") or []
        )
        wanted = list(params.get("MessageAttributeNames") or [])
        return OperationResult(
            {"Messages": [_received(message, queue.key, system, wanted) for message in messages] or None}
        )

    async def delete_message(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        queue = await self._queue("DeleteMessage", params, context)
        await self._service.delete_message(queue.key, str(params["ReceiptHandle"]))
        return OperationResult({})

    async def delete_message_batch(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        queue = await self._queue("DeleteMessageBatch", params, context)
        entries = _entries(params, "DeleteMessageBatchRequestEntry")
        refused = await self._service.delete_messages(
            queue.key, [str(entry["ReceiptHandle"]) for entry in entries]
        )
        successful, failed = [], []
        for entry in entries:
            error = refused.get(str(entry["ReceiptHandle"]))
            if error is None:
                successful.append({"Id": entry["Id"]})
            else:
                failed.append(_failure(str(entry["Id"]), error))
        return OperationResult({"Successful": successful, "Failed": failed})

    async def change_message_visibility(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        queue = await self._queue("ChangeMessageVisibility", params, context)
        await self._service.change_visibility(
            queue.key, str(params["ReceiptHandle"]), int(params["VisibilityTimeout"])
        )
        return OperationResult({})

    async def change_message_visibility_batch(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        queue = await self._queue("ChangeMessageVisibilityBatch", params, context)

        async def one(entry: Mapping[str, Any]) -> None:
            await self._service.change_visibility(
                queue.key, str(entry["ReceiptHandle"]), int(entry.get("VisibilityTimeout") or 0)
            )

        return await _batch(_entries(params, "ChangeMessageVisibilityBatchRequestEntry"), one)


def _entries(params: Mapping[str, Any], entry_type: str) -> list[Mapping[str, Any]]:
    entries = list(params.get("Entries") or [])
    if not entries:
        raise errors.empty_batch(entry_type)
    if len(entries) > 10:
        raise errors.too_many_entries(len(entries))
    seen: set[str] = set()
    for entry in entries:
        entry_id = str(entry.get("Id", ""))
        if _BATCH_ID.fullmatch(entry_id) is None:
            raise errors.invalid_batch_entry_id()
        if entry_id in seen:
            raise errors.ids_not_distinct(entry_id)
        seen.add(entry_id)
    return entries


async def _batch(
    entries: Sequence[Mapping[str, Any]], one: Callable[[Mapping[str, Any]], Awaitable[None]]
) -> OperationResult:
    successful, failed = [], []
    for entry in entries:
        try:
            await one(entry)
            successful.append({"Id": entry["Id"]})
        except AwsError as error:
            failed.append(_failure(str(entry["Id"]), error))
    return OperationResult({"Successful": successful, "Failed": failed})


def _failure(entry_id: str, error: AwsError) -> dict[str, Any]:
    query_code = error.headers.get("x-amzn-query-error", error.code).split(";", 1)[0]
    return {"Id": entry_id, "SenderFault": error.status < 500, "Code": query_code, "Message": error.message}


def _outgoing(params: Mapping[str, Any], context: RequestContext) -> Outgoing:
    system = params.get("MessageSystemAttributes") or {}
    trace = (system.get("AWSTraceHeader") or {}).get("StringValue") or context.request.headers.get(
        "x-amzn-trace-id"
    )
    return Outgoing(
        str(params.get("MessageBody", "")),
        checked_attributes(params.get("MessageAttributes") or {}),
        params.get("DelaySeconds"),
        params.get("MessageGroupId"),
        params.get("MessageDeduplicationId"),
        trace,
    )


def _sent(message: Message, outgoing: Outgoing) -> dict[str, Any]:
    return {
        "MessageId": message.message_id,
        "MD5OfMessageBody": body_md5(outgoing.body),
        "MD5OfMessageAttributes": attributes_md5(outgoing.attributes),
        "SequenceNumber": message.sequence_number,
    }


def _wanted(name: str, patterns: Sequence[str]) -> bool:
    for pattern in patterns:
        if pattern in ("All", ".*") or pattern == name:
            return True
        if pattern.endswith(".*") and name.startswith(pattern[:-1]):
            return True
    return False


def _received(message: Message, key: QueueKey, system: set[str], wanted: Sequence[str]) -> dict[str, Any]:
    output: dict[str, Any] = {
        "MessageId": message.message_id,
        "ReceiptHandle": handle_of(message, key),
        "MD5OfBody": body_md5(message.body),
        "Body": message.body,
    }
    if system:
        every = message.system_attributes()
        chosen = (
            every if "All" in system else {name: value for name, value in every.items() if name in system}
        )
        if chosen:
            output["Attributes"] = chosen
    attributes = from_record_attributes(message.attributes)
    picked = {name: value for name, value in attributes.items() if _wanted(name, wanted)}
    if picked:
        output["MessageAttributes"] = picked
        output["MD5OfMessageAttributes"] = attributes_md5(picked)
    return output
