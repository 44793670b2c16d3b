"""Random bytes, split at random points, fed to the HTTP server over a real loopback socket: it
always answers or closes the connection (within its own timeouts), and never raises or hangs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.transport.harness import SMALL, connect, serving

from lamina.transport.http11 import LeanRequest, LeanResponse

LIMITS = replace(SMALL, header_timeout=0.2, body_timeout=0.2, idle_timeout=0.2)
# Pieces requests are made of, so that random input often gets deep into the parser.
FRAGMENTS = [
    b"GET / HTTP/1.1\r\n",
    b"POST /x?y=1 HTTP/1.1\r\n",
    b"Host: h\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n",
    b"\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"zz\r\n",
    b"X: " + b"v" * 600 + b"\r\n",
]
messages = st.lists(
    st.one_of(st.binary(max_size=64), st.sampled_from(FRAGMENTS)), min_size=1, max_size=12
).map(b"".join)


async def echo(request: LeanRequest) -> LeanResponse:
    return LeanResponse(200, request.body or b"-", content_type="text/plain")


async def feed(data: bytes, cuts: list[int]) -> bytes:
    """Send `data` in pieces cut at `cuts`, then read until the server closes the connection."""
    errors: list[BaseException] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: errors.append(context.get("exception") or Exception()))
    async with serving(echo, LIMITS) as listener:
        reader, writer = await connect(listener)
        received = b""
        try:
            start = 0
            for cut in [*sorted(cut % (len(data) + 1) for cut in cuts), len(data)]:
                writer.write(data[start:cut])
                start = cut
                await writer.drain()
                await asyncio.sleep(0)
            while chunk := await reader.read(65536):
                received += chunk
        except ConnectionError:
            pass
        finally:
            writer.close()
    assert not errors, errors
    return received


# asyncio's own loop, and uvloop, which the server runs on.
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.mark.parametrize("loop", sorted(LOOPS))
@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=messages, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=6))
def test_random_input_is_answered_or_closed(loop: str, data: bytes, cuts: list[int]) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        received = runner.run(asyncio.wait_for(feed(data, cuts), 5))
    assert received == b"" or received.startswith(b"HTTP/1.1 ")
