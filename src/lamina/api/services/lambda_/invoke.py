"""Invoke (Invoke API reference): RequestResponse 200, Event 202 once the event is queued
durably, DryRun 204. A call made from inside a chain more than 16 invocations deep is stopped
when the function's RecursiveLoop is Terminate (see domain/recursion.py).

`LogType=Tail` returns the last 4 KB of the invocation's log base64-encoded in X-Amz-Log-Result;
function errors set X-Amz-Function-Error; payloads are limited to 6 MB (sync) and 1 MB (Event).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.domain.arns import parse_function_ref, resolve_qualifier
from lamina.domain.lifecycle import check_invocable
from lamina.domain.recursion import is_recursive_loop, trace_for_invocation
from lamina.errors import AwsError, invalid_parameter, request_too_large
from lamina.execution.async_delivery import AsyncDelivery
from lamina.execution.environment import InvocationResult
from lamina.execution.invocation import InvocationInput, InvocationService
from lamina.execution.observer import RECURSIVE_INVOCATIONS_DROPPED
from lamina.functions.manager import FunctionManager
from lamina.functions.recursion import RecursionConfigService

MAX_ASYNC_PAYLOAD_BYTES = 1_048_576
MAX_CLIENT_CONTEXT_BYTES = 3583
# The RecursiveInvocationException description in botocore's Lambda model.
_RECURSIVE_LOOP_MESSAGE = (
    "Lambda has detected your function being invoked in a recursive loop with other AWS resources "
    "and stopped your function's invocation."
)


def _invalid_content(message: str) -> AwsError:
    return AwsError("InvalidRequestContentException", message, 400)


# AWS's prefix for a payload that is not JSON; what follows is its parser's description (Lamina's
# parser words it differently).
_NOT_JSON = "Could not parse request body into json: Could not parse payload into json: "


def _check_json(payload: bytes) -> bytes:
    if not payload:
        return b"{}"
    try:
        json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid_content(f"{_NOT_JSON}{exc}") from None
    except RecursionError:  # nested deeper than the parser goes; a runtime could not load it either
        raise _invalid_content(f"{_NOT_JSON}nested too deeply") from None
    return payload


def _client_context(encoded: str | None) -> str | None:
    """X-Amz-Client-Context is base64 JSON; runtimes receive the decoded JSON text."""
    if encoded is None:
        return None
    if len(encoded) > MAX_CLIENT_CONTEXT_BYTES:
        raise invalid_parameter(f"Client context must be smaller than {MAX_CLIENT_CONTEXT_BYTES} bytes.")
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
        json.loads(decoded)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise invalid_parameter("Client context must be a valid Base64-encoded JSON object.") from None
    return decoded


class InvokeHandler:
    def __init__(
        self,
        manager: FunctionManager,
        invocations: InvocationService,
        delivery: AsyncDelivery,
        recursion: RecursionConfigService,
    ) -> None:
        self._manager = manager
        self._invocations = invocations
        self._delivery = delivery
        self._recursion = recursion
        self._placement = manager.placement

    async def invoke_with_response_stream(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        """InvokeWithResponseStream: the result as an event stream (PayloadChunk events, then
        InvokeComplete). Lamina's runtimes answer whole, so the payload comes in chunks once the
        function returns, as AWS streams functions that do not stream themselves."""
        return await self.invoke(params, context, streamed=True)

    async def invoke_async(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        """InvokeAsync (deprecated, still in old code): an Event invocation of $LATEST or the named
        version or alias, answered 202 with `{"Status": 202}`."""
        event = {"FunctionName": params["FunctionName"], "InvocationType": "Event"}
        await self.invoke({**event, "Payload": params.get("InvokeArgs") or b""}, context)
        return OperationResult({"Status": 202}, status=202)

    async def invoke(
        self, params: dict[str, Any], context: RequestContext, *, streamed: bool = False
    ) -> OperationResult:
        ref = parse_function_ref(
            params["FunctionName"], region=self._placement.region, account_id=self._placement.account_id
        )
        qualifier = resolve_qualifier(ref, params.get("Qualifier"))
        config = self._manager.get(ref.name, qualifier, route=True)
        check_invocable(config)
        invocation_type = params.get("InvocationType") or "RequestResponse"
        payload: bytes = params.get("Payload") or b""
        limit = (
            MAX_ASYNC_PAYLOAD_BYTES
            if invocation_type == "Event"
            else self._manager.limits().max_payload_bytes
        )
        if len(payload) > limit:
            raise request_too_large(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
            )
        payload = _check_json(payload)
        client_context = _client_context(params.get("ClientContext"))
        if invocation_type == "DryRun":
            return OperationResult({}, status=204)
        trace_id, depth = trace_for_invocation(context.request.headers.get("x-amzn-trace-id"))
        if is_recursive_loop(depth, self._recursion.loop(ref.name)):
            if invocation_type == "Event":
                await self._delivery.reject_recursive(ref.name, qualifier, payload)
                return OperationResult({"StatusCode": 202}, status=202)
            self._invocations.observer.async_event(RECURSIVE_INVOCATIONS_DROPPED, ref.name, qualifier)
            raise AwsError("RecursiveInvocationException", _RECURSIVE_LOOP_MESSAGE, 400)
        if invocation_type == "Event":
            await self._delivery.accept(
                ref.name,
                qualifier,
                payload,
                client_context=client_context,
                trace_id=trace_id,
                event_id=context.request_id,
            )
            return OperationResult({"StatusCode": 202}, status=202)
        invocation = InvocationInput(
            config, self._placement.arn(ref.name, qualifier), payload, client_context, trace_id=trace_id
        )
        result = await self._invocations.invoke(invocation, context.request_id)
        if streamed:
            return OperationResult(
                {
                    "StatusCode": 200,
                    "ExecutedVersion": result.executed_version,
                    "EventStream": _stream_events(result, params.get("LogType") == "Tail"),
                }
            )
        output: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": result.executed_version,
            "FunctionError": result.function_error,
            "Payload": result.payload,
        }
        if params.get("LogType") == "Tail":
            output["LogResult"] = base64.b64encode(result.log_tail.encode()).decode()
        # AWS answers Invoke with Content-Type application/json whatever the payload holds.
        return OperationResult(output, headers=(("Content-Type", "application/json"),))


STREAM_CHUNK_BYTES = 65_536


async def _stream_events(result: InvocationResult, tail: bool) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    payload = result.payload
    for start in range(0, len(payload), STREAM_CHUNK_BYTES):
        yield "PayloadChunk", {"Payload": payload[start : start + STREAM_CHUNK_BYTES]}
    complete: dict[str, Any] = {}
    if result.function_error is not None:
        complete["ErrorCode"] = result.function_error
        complete["ErrorDetails"] = payload.decode(errors="replace")
    if tail:
        complete["LogResult"] = base64.b64encode(result.log_tail.encode()).decode()
    yield "InvokeComplete", complete
