"""The hand-over point between an environment's invoker and its runtime.

The invoker submits one invocation at a time and awaits its outcome; the runtime side (the HTTP
endpoint, or a faster channel later) pulls with `next()` and posts results. Pure asyncio state,
no I/O, so any transport can drive it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

# Invoke API: responses are limited to 6 MB (6291556 bytes as the error message states).
MAX_RESPONSE_BYTES = 6_291_556

OutcomeKind = Literal["response", "error", "init_error"]


@dataclass(frozen=True, slots=True)
class Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int
    invoked_function_arn: str
    trace_id: str
    client_context: str | None = None
    cognito_identity: str | None = None


@dataclass(frozen=True, slots=True)
class RuntimeOutcome:
    kind: OutcomeKind
    payload: bytes
    error_type: str | None = None


class AlreadyPolling(Exception):
    """A `next` came while another one waits: the environment has a single runtime loop."""


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


# An error type goes into REPORT lines and metrics: a runtime (function code may write to its
# channel) cannot break those lines or make them long.
_MAX_ERROR_TYPE_CHARS = 256


def _error_type(value: object, default: str) -> str:
    if not isinstance(value, str) or not value:
        return default
    cleaned = "".join(character for character in value if character.isprintable())
    return cleaned[:_MAX_ERROR_TYPE_CHARS] or default


class InvocationMailbox:
    """One in-flight invocation per environment; `first_poll` marks the end of init."""

    def __init__(self, max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        """`max_response_bytes`: AWS's cap unless the operator raised the payload limit."""
        self.max_response_bytes = max_response_bytes
        self.first_poll = asyncio.Event()
        self.init_error_posted = asyncio.Event()
        self.init_error: RuntimeOutcome | None = None
        self._pending: Invocation | None = None
        self._in_flight: Invocation | None = None
        self._taker: Callable[[Invocation], None] | None = None
        self._next_waiter: asyncio.Future[Invocation] | None = None  # a parked `next()`
        self._outcome: asyncio.Future[RuntimeOutcome] | None = None
        self._early_init_error: RuntimeOutcome | None = None
        self._poll_waiters: list[asyncio.Future[None]] = []

    def submit(self, invocation: Invocation) -> asyncio.Future[RuntimeOutcome]:
        if self._outcome is not None and not self._outcome.done():
            raise RuntimeError("environment already has an invocation in flight")
        self._outcome = asyncio.get_running_loop().create_future()
        if self._early_init_error is not None:
            self._outcome.set_result(self._early_init_error)
            return self._outcome
        taker = self._taker
        if taker is not None:
            self._taker = None
            self._in_flight = invocation
            taker(invocation)
        else:
            self._pending = invocation
        return self._outcome

    def take_next(self, taker: Callable[[Invocation], None]) -> None:
        """Runtime side without a coroutine: `taker` gets the next invocation, now or when it is
        submitted (the framed channel answers from its protocol callback, with no task per poll)."""
        self.first_poll.set()
        if self._poll_waiters:
            waiters, self._poll_waiters = self._poll_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        if self._pending is not None:
            invocation, self._pending = self._pending, None
            self._in_flight = invocation
            taker(invocation)
        else:
            self._taker = taker

    def next_poll(self) -> asyncio.Future[None]:
        """Resolved once the runtime polls for an invocation (at once if it is polling now)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.polling:
            waiter.set_result(None)
        else:
            self._poll_waiters.append(waiter)
        return waiter

    def cancel_take(self) -> None:
        self._taker = None

    @property
    def polling(self) -> bool:
        """A runtime waits for the next invocation (a parked `next()` or `take_next`)."""
        return self._taker is not None

    async def next(self) -> Invocation:
        """Runtime side: wait for the next invocation (parks until one is submitted).

        Raises AlreadyPolling while another `next` waits: the first keeps its place (a second
        caller never takes the invocation the environment's runtime is waiting for)."""
        if self.polling:
            raise AlreadyPolling
        waiter: asyncio.Future[Invocation] = asyncio.get_running_loop().create_future()

        def hand_over(invocation: Invocation) -> None:
            if waiter.done():  # the poll was cancelled: keep the invocation for the next one
                self._in_flight = None
                self._pending = invocation
            else:
                waiter.set_result(invocation)

        self.take_next(hand_over)
        self._next_waiter = waiter
        try:
            return await waiter
        finally:
            self._next_waiter = None
            if self._taker is hand_over:
                self._taker = None

    def _finish(self, request_id: str, outcome: RuntimeOutcome) -> bool:
        if self._in_flight is None or self._in_flight.request_id != request_id:
            return False
        self._in_flight = None
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(outcome)
        return True

    def post_response(self, request_id: str, body: bytes) -> bool:
        """False when the request id is not the one in flight."""
        if len(body) > self.max_response_bytes:
            return self.post_oversized_response(request_id)
        return self._finish(request_id, RuntimeOutcome("response", body))

    def post_oversized_response(self, request_id: str) -> bool:
        message = (
            f"Response payload size exceeded maximum allowed payload size ({self.max_response_bytes} bytes)."
        )
        error_type = "Function.ResponseSizeTooLarge"
        return self._finish(
            request_id, RuntimeOutcome("error", _error_payload(error_type, message), error_type)
        )

    def post_error(self, request_id: str, body: bytes, error_type: object) -> bool:
        return self._finish(
            request_id, RuntimeOutcome("error", body or b"{}", _error_type(error_type, "Unhandled"))
        )

    def post_init_error(self, body: bytes, error_type: object) -> None:
        outcome = RuntimeOutcome("init_error", body or b"{}", _error_type(error_type, "Runtime.Unknown"))
        self.init_error = outcome
        self.init_error_posted.set()
        target = self._outcome
        if target is not None and not target.done():
            self._pending = None
            self._in_flight = None
            target.set_result(outcome)
        else:
            self._early_init_error = outcome

    def close(self) -> None:
        """Release a parked runtime poll; the process is going away."""
        self._taker = None
        if self._next_waiter is not None and not self._next_waiter.done():
            self._next_waiter.cancel()
