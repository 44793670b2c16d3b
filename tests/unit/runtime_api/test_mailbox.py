"""InvocationMailbox: one invocation in flight, hand-over between invoker and runtime in either order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from lamina.runtime_api.mailbox import MAX_RESPONSE_BYTES, Invocation, InvocationMailbox, RuntimeOutcome

T = TypeVar("T")


def run(scenario: Callable[[InvocationMailbox], Awaitable[T]]) -> T:
    async def main() -> T:
        return await scenario(InvocationMailbox())

    return asyncio.run(main())


def invocation(request_id: str = "req-1", payload: bytes = b'{"k":1}') -> Invocation:
    return Invocation(
        request_id=request_id,
        payload=payload,
        deadline_ms=1_700_000_000_000,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
        trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_maximum_response_size_is_the_documented_one() -> None:
    assert MAX_RESPONSE_BYTES == 6_291_556


def test_submit_before_the_runtime_polls() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        outcome = mailbox.submit(invocation())
        assert not mailbox.first_poll.is_set()
        assert await mailbox.next() == invocation()
        assert mailbox.first_poll.is_set()
        assert not outcome.done()
        assert mailbox.post_response("req-1", b'"ok"') is True
        assert await outcome == RuntimeOutcome("response", b'"ok"', None)

    run(scenario)


def test_submit_after_the_runtime_parked_in_next() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        poll = asyncio.create_task(mailbox.next())
        await settle()
        assert mailbox.first_poll.is_set()
        assert not poll.done()
        outcome = mailbox.submit(invocation())
        assert await poll == invocation()
        assert mailbox.post_response("req-1", b"done")
        assert (await outcome).payload == b"done"

    run(scenario)


def test_a_response_for_another_request_id_is_refused() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        assert mailbox.post_response("req-1", b"nothing in flight") is False
        outcome = mailbox.submit(invocation())
        assert mailbox.post_response("req-1", b"not yet delivered") is False
        await mailbox.next()
        assert mailbox.post_response("req-2", b"wrong") is False
        assert mailbox.post_error("req-2", b"wrong", "X") is False
        await settle()
        assert not outcome.done()
        assert mailbox.post_response("req-1", b"right") is True
        assert mailbox.post_response("req-1", b"again") is False
        assert await outcome == RuntimeOutcome("response", b"right")

    run(scenario)


def test_post_error_resolves_with_the_error_type() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        outcome = mailbox.submit(invocation())
        await mailbox.next()
        body = b'{"errorMessage":"boom","errorType":"ValueError"}'
        assert mailbox.post_error("req-1", body, "Runtime.ValueError") is True
        assert await outcome == RuntimeOutcome("error", body, "Runtime.ValueError")

    run(scenario)


def test_post_error_defaults() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        outcome = mailbox.submit(invocation())
        await mailbox.next()
        assert mailbox.post_error("req-1", b"", None) is True
        assert await outcome == RuntimeOutcome("error", b"{}", "Unhandled")

    run(scenario)


def test_a_response_of_exactly_the_limit_is_delivered() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        outcome = mailbox.submit(invocation())
        await mailbox.next()
        body = b"x" * MAX_RESPONSE_BYTES
        assert mailbox.post_response("req-1", body)
        result = await outcome
        assert (result.kind, len(result.payload), result.error_type) == ("response", MAX_RESPONSE_BYTES, None)

    run(scenario)


def test_an_oversized_response_becomes_a_function_error() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        outcome = mailbox.submit(invocation())
        await mailbox.next()
        assert mailbox.post_response("req-1", b"x" * (MAX_RESPONSE_BYTES + 1)) is True
        result = await outcome
        assert (result.kind, result.error_type) == ("error", "Function.ResponseSizeTooLarge")
        assert json.loads(result.payload) == {
            "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }

    run(scenario)


def test_an_oversized_response_for_a_wrong_id_is_refused() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        outcome = mailbox.submit(invocation())
        await mailbox.next()
        assert mailbox.post_oversized_response("other") is False
        assert not outcome.done()

    run(scenario)


def test_init_error_before_submit_fails_the_next_invocation() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        body = b'{"errorMessage":"no module","errorType":"Runtime.ImportModuleError"}'
        mailbox.post_init_error(body, "Runtime.ImportModuleError")
        assert mailbox.init_error_posted.is_set()
        expected = RuntimeOutcome("init_error", body, "Runtime.ImportModuleError")
        assert mailbox.init_error == expected
        outcome = mailbox.submit(invocation())
        assert outcome.done()
        assert await outcome == expected

    run(scenario)


def test_init_error_defaults() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        mailbox.post_init_error(b"", None)
        assert mailbox.init_error == RuntimeOutcome("init_error", b"{}", "Runtime.Unknown")

    run(scenario)


def test_init_error_after_submit_resolves_it_and_drops_the_pending_invocation() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        outcome = mailbox.submit(invocation())
        mailbox.post_init_error(b"{}", "Runtime.ExitError")
        assert await outcome == RuntimeOutcome("init_error", b"{}", "Runtime.ExitError")
        assert mailbox.init_error_posted.is_set()
        poll = asyncio.create_task(mailbox.next())
        await settle()
        assert not poll.done()  # the dropped invocation is not delivered
        mailbox.close()
        with pytest.raises(asyncio.CancelledError):
            await poll

    run(scenario)


def test_init_error_while_in_flight_resolves_and_later_results_are_refused() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        outcome = mailbox.submit(invocation())
        await mailbox.next()
        mailbox.post_init_error(b"crash", "Runtime.Crash")
        assert await outcome == RuntimeOutcome("init_error", b"crash", "Runtime.Crash")
        assert mailbox.post_response("req-1", b"too late") is False

    run(scenario)


def test_submitting_twice_while_in_flight_raises() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        mailbox.submit(invocation("req-1"))
        with pytest.raises(RuntimeError, match="already has an invocation in flight"):
            mailbox.submit(invocation("req-2"))
        await mailbox.next()
        with pytest.raises(RuntimeError, match="already has an invocation in flight"):
            mailbox.submit(invocation("req-2"))
        assert mailbox.post_response("req-1", b"done")
        second = mailbox.submit(invocation("req-2"))  # accepted once the first has its outcome
        assert (await mailbox.next()).request_id == "req-2"
        assert not second.done()

    run(scenario)


def test_invocations_follow_one_another() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        for number in range(3):
            request_id = f"req-{number}"
            outcome = mailbox.submit(invocation(request_id, payload=str(number).encode()))
            delivered = await mailbox.next()
            assert (delivered.request_id, delivered.payload) == (request_id, str(number).encode())
            assert mailbox.post_response(request_id, f"result {number}".encode())
            assert await outcome == RuntimeOutcome("response", f"result {number}".encode())

    run(scenario)


def test_close_cancels_a_parked_next() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        mailbox.close()  # nothing parked: a no-op
        poll = asyncio.create_task(mailbox.next())
        await settle()
        mailbox.close()
        with pytest.raises(asyncio.CancelledError):
            await poll
        assert poll.cancelled()

    run(scenario)


def test_a_cancelled_poll_does_not_swallow_the_next_invocation() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        poll = asyncio.create_task(mailbox.next())
        await settle()
        poll.cancel()  # e.g. the runtime's connection dropped
        with pytest.raises(asyncio.CancelledError):
            await poll
        mailbox.submit(invocation())
        assert await asyncio.wait_for(mailbox.next(), 1) == invocation()

    run(scenario)


def test_client_context_and_identity_are_carried() -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        sent = Invocation(
            "r", b"", 1, "arn", "trace", client_context='{"custom":{}}', cognito_identity='{"id":1}'
        )
        mailbox.submit(sent)
        assert await mailbox.next() == sent

    run(scenario)


@pytest.mark.parametrize(
    ("posted", "kept"),
    [
        ("A\r\nX-Evil: 1", "AX-Evil: 1"),  # no line breaks into REPORT
        ({"a": [1, 2]}, "Unhandled"),  # not a string: the default
        ("x" * 1000, "x" * 256),
        ("\n\t", "Unhandled"),
    ],
)
def test_an_error_type_from_the_runtime_is_made_safe(posted: object, kept: str) -> None:
    async def scenario(mailbox: InvocationMailbox) -> None:
        outcome = mailbox.submit(invocation())
        await mailbox.next()
        assert mailbox.post_error("req-1", b"{}", posted) is True
        assert (await outcome).error_type == kept

    run(scenario)
