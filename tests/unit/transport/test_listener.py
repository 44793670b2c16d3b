"""The connection cap: at the cap the listener stops accepting (the client waits in the backlog)
and resumes as soon as a connection closes; nothing is refused or crashes."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.unit.transport.harness import SMALL, connect, read_response, serving

from lamina.transport.http11 import LeanRequest, LeanResponse


async def echo(request: LeanRequest) -> LeanResponse:
    return LeanResponse(200, request.path.encode(), content_type="text/plain")


def test_at_the_cap_new_connections_wait_until_one_closes() -> None:
    async def scenario() -> tuple[int, bool, int, int]:
        limits = replace(SMALL, max_connections=2, idle_timeout=None)
        async with serving(echo, limits) as listener:
            first = await connect(listener)
            second = await connect(listener)
            for reader, writer in (first, second):
                writer.write(b"GET /open HTTP/1.1\r\nHost: h\r\n\r\n")
                await read_response(reader)
            open_at_cap = len(listener.connections)
            third_reader, third_writer = await connect(listener)  # the kernel's backlog takes it
            third_writer.write(b"GET /third HTTP/1.1\r\nHost: h\r\n\r\n")
            waiting = asyncio.ensure_future(read_response(third_reader))
            await asyncio.sleep(0.3)
            answered_at_cap = waiting.done()
            first[1].close()
            response = await waiting
            for _, writer in (second, (third_reader, third_writer)):
                writer.close()
            return open_at_cap, answered_at_cap, response.status, len(listener.connections)

    open_at_cap, answered_at_cap, status, open_after = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert open_at_cap == 2 and not answered_at_cap
    assert status == 200 and open_after <= 2
