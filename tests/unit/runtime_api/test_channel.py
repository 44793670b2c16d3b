"""The framed Runtime API channel, over a real socket pair: with Lamina's real Python runtime, and
with frames written by hand (split anywhere, oversized, malformed)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from lamina.execution.runtimes.catalog import BOOTSTRAP
from lamina.runtime_api.channel import FRAME_PREFIX, FramedRuntimeChannel, encode_frame
from lamina.runtime_api.mailbox import MAX_RESPONSE_BYTES, Invocation, InvocationMailbox, RuntimeOutcome

T = TypeVar("T")


def invocation(request_id: str, payload: bytes = b"{}") -> Invocation:
    return Invocation(request_id, payload, int(time.time() * 1000) + 3000, "arn:f", "Root=1-0-0")


def with_channel(scenario: Callable[[socket.socket, InvocationMailbox], Awaitable[T]]) -> T:
    async def main() -> T:
        server_end, runtime_end = socket.socketpair()
        mailbox = InvocationMailbox()
        channel = FramedRuntimeChannel(server_end, mailbox)
        await channel.start()
        try:
            return await scenario(runtime_end, mailbox)
        finally:
            channel.close()
            runtime_end.close()

    return asyncio.run(main())


async def read_frame(sock: socket.socket) -> tuple[dict[str, object], bytes]:
    loop = asyncio.get_running_loop()
    sock.setblocking(False)

    async def exactly(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = await loop.sock_recv(sock, size - len(data))
            assert chunk, "channel closed"
            data += chunk
        return data

    header_size, body_size = FRAME_PREFIX.unpack(await exactly(FRAME_PREFIX.size))
    header = json.loads(await exactly(header_size))
    return header, await exactly(body_size) if body_size else b""


def test_the_python_runtime_serves_invocations_over_the_channel(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return {'got': event}\n")

    async def scenario(runtime_end: socket.socket, mailbox: InvocationMailbox) -> list[RuntimeOutcome]:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(BOOTSTRAP)],
            env={
                "LAMINA_RUNTIME_CHANNEL_FD": str(runtime_end.fileno()),
                "_HANDLER": "app.handler",
                "LAMBDA_TASK_ROOT": str(tmp_path),
            },
            pass_fds=[runtime_end.fileno()],
        )
        try:
            await asyncio.wait_for(mailbox.first_poll.wait(), 10)
            outcomes = []
            for index in range(3):
                future = mailbox.submit(invocation(f"req-{index}", b'{"n": %d}' % index))
                outcomes.append(await asyncio.wait_for(future, 10))
            return outcomes
        finally:
            process.kill()
            process.wait()

    outcomes = with_channel(scenario)
    assert [outcome.payload for outcome in outcomes] == [b'{"got": {"n": %d}}' % n for n in range(3)]
    assert {outcome.kind for outcome in outcomes} == {"response"}


def test_frames_split_byte_by_byte_and_a_result_sent_with_the_next_poll() -> None:
    async def scenario(runtime_end: socket.socket, mailbox: InvocationMailbox) -> tuple[object, object]:
        for byte in encode_frame({"type": "next"}):
            runtime_end.send(bytes([byte]))
            await asyncio.sleep(0)
        outcome = mailbox.submit(invocation("req-1", b'{"k": 1}'))
        header, body = await read_frame(runtime_end)
        assert (header["type"], header["requestId"], body) == ("invoke", "req-1", b'{"k": 1}')
        # The runtime writes its result and its next poll together.
        runtime_end.sendall(
            encode_frame({"type": "response", "requestId": "req-1"}, b'"ok"') + encode_frame({"type": "next"})
        )
        first = await asyncio.wait_for(outcome, 5)
        second_outcome = mailbox.submit(invocation("req-2"))
        header, _ = await read_frame(runtime_end)
        runtime_end.sendall(
            encode_frame({"type": "error", "requestId": "req-2", "errorType": "ValueError"}, b"{}")
        )
        return first, await asyncio.wait_for(second_outcome, 5)

    first, second = with_channel(scenario)
    assert first == RuntimeOutcome("response", b'"ok"')
    assert second == RuntimeOutcome("error", b"{}", "ValueError")


def test_an_oversized_response_is_dropped_and_reported_and_the_channel_keeps_working() -> None:
    async def scenario(runtime_end: socket.socket, mailbox: InvocationMailbox) -> tuple[object, object]:
        runtime_end.sendall(encode_frame({"type": "next"}))
        outcome = mailbox.submit(invocation("req-1"))
        await read_frame(runtime_end)
        runtime_end.setblocking(True)
        big = encode_frame({"type": "response", "requestId": "req-1"}, b"x" * (MAX_RESPONSE_BYTES + 10))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, runtime_end.sendall, big + encode_frame({"type": "next"}))
        first = await asyncio.wait_for(outcome, 10)
        second = mailbox.submit(invocation("req-2"))
        header, _ = await read_frame(runtime_end)
        runtime_end.sendall(encode_frame({"type": "response", "requestId": "req-2"}, b"1"))
        return first, (header["requestId"], await asyncio.wait_for(second, 5))

    first, second = with_channel(scenario)
    assert isinstance(first, RuntimeOutcome)
    assert (first.kind, first.error_type) == ("error", "Function.ResponseSizeTooLarge")
    assert second == ("req-2", RuntimeOutcome("response", b"1"))


@pytest.mark.parametrize(
    "garbage",
    [FRAME_PREFIX.pack(10_000_000, 0), FRAME_PREFIX.pack(5, 0) + b"nope!"],
    ids=["huge-header", "not-json"],
)
def test_a_malformed_frame_closes_the_channel(garbage: bytes) -> None:
    async def scenario(runtime_end: socket.socket, mailbox: InvocationMailbox) -> bytes:
        runtime_end.sendall(garbage)
        runtime_end.setblocking(False)
        return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(runtime_end, 10), 5)

    assert with_channel(scenario) == b""
