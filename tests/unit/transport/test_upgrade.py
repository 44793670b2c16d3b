"""Protocol upgrades (WebSocket, h2c, CONNECT tunnels) are not offered: the request is answered by the
handler as if it had not asked, and the connection ends. Never a connection closed without an answer."""

from __future__ import annotations

import asyncio

from tests.unit.transport.harness import closed, connect, read_response, serving

from lamina.transport.http11 import LeanRequest, LeanResponse


async def _echo(request: LeanRequest) -> LeanResponse:
    return LeanResponse(200, request.path.encode(), content_type="text/plain")


def test_a_request_asking_to_upgrade_is_answered_plainly_then_the_connection_ends() -> None:
    async def scenario() -> tuple[int, bytes, str | None, bool]:
        async with serving(_echo) as listener:
            reader, writer = await connect(listener)
            writer.write(
                b"GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                b"\x81\x85not-http-anymore"
            )
            response = await read_response(reader)
            ended = await closed(reader)
            writer.close()
            return response.status, response.body, response.header("connection"), ended

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == (200, b"/chat", "close", True)


def test_a_connect_gets_the_handlers_answer_not_a_tunnel() -> None:
    async def scenario() -> tuple[int, bool]:
        async with serving(_echo) as listener:
            reader, writer = await connect(listener)
            writer.write(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
            response = await read_response(reader)
            ended = await closed(reader)
            writer.close()
            return response.status, ended

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == (200, True)
