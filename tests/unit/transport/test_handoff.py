"""Handing a client's connection to another listener: the request that asked for it and every later
one on that connection are answered there; a refused or impossible hand-off answers here instead."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from pathlib import Path

import pytest
from tests.unit.transport.harness import SMALL, connect, read_response, serving

from lamina.transport.handoff import ConnectionInbox, send_connection
from lamina.transport.http11 import LeanRequest, LeanResponse
from lamina.transport.listener import HttpListener
from lamina.transport.messages import HandOff, encode_request


def run(scenario, timeout: float = 10):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(scenario, timeout))


async def _other(request: LeanRequest) -> LeanResponse:
    peer = "peer-known" if request.peer else "no-peer"
    return LeanResponse(200, f"other {request.method} {request.path} {request.body.decode()} {peer}".encode())


def _mover(inbox_path: Path, token: bytes):  # type: ignore[no-untyped-def]
    async def handler(request: LeanRequest) -> LeanResponse:
        if request.path.startswith("/move"):

            async def send(fd: int, data: bytes) -> bool:
                return await send_connection(inbox_path, token, fd, data)

            return HandOff(503, b"not moved", send=send)
        return LeanResponse(200, f"here {request.path}".encode())

    return handler


def test_a_moved_connection_is_answered_by_the_other_listener_from_then_on(tmp_path: Path) -> None:
    token = secrets.token_bytes(32)

    async def scenario() -> list[bytes]:
        other = HttpListener(_other, SMALL)
        inbox = ConnectionInbox(tmp_path / "inbox.sock", token, other.adopt_connection)
        inbox.open()
        try:
            async with serving(_mover(inbox.path, token)) as listener:
                reader, writer = await connect(listener)
                bodies = []
                writer.write(b"GET /stay HTTP/1.1\r\nHost: h\r\n\r\n")
                bodies.append((await read_response(reader)).body)
                # A chunked body arrives whole on the other side.
                writer.write(
                    b"POST /move?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                )
                bodies.append((await read_response(reader)).body)
                writer.write(b"GET /stay HTTP/1.1\r\nHost: h\r\n\r\n")
                bodies.append((await read_response(reader)).body)
                writer.close()
                return bodies
        finally:
            inbox.close()
            other.close_connections()

    assert run(scenario()) == [
        b"here /stay",
        b"other POST /move abcde peer-known",
        b"other GET /stay  peer-known",
    ]


def test_a_hand_off_without_the_token_is_refused_and_answered_here(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, bytes, bytes]:
        other = HttpListener(_other, SMALL)
        inbox = ConnectionInbox(tmp_path / "inbox.sock", secrets.token_bytes(32), other.adopt_connection)
        inbox.open()
        try:
            async with serving(_mover(inbox.path, secrets.token_bytes(32))) as listener:
                reader, writer = await connect(listener)
                writer.write(b"GET /move HTTP/1.1\r\nHost: h\r\n\r\n")
                refused = await read_response(reader)
                writer.write(b"GET /stay HTTP/1.1\r\nHost: h\r\n\r\n")
                after = await read_response(reader)
                writer.close()
                return refused.status, refused.body, after.body
        finally:
            inbox.close()

    assert run(scenario()) == (503, b"not moved", b"here /stay")


def test_nobody_listening_keeps_the_connection_here(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, bytes]:
        async with serving(_mover(tmp_path / "nobody.sock", b"x" * 32)) as listener:
            reader, writer = await connect(listener)
            writer.write(b"GET /move HTTP/1.1\r\nHost: h\r\n\r\n")
            first = await read_response(reader)
            writer.write(b"GET /stay HTTP/1.1\r\nHost: h\r\n\r\n")
            second = await read_response(reader)
            writer.close()
            return first.status, second.body

    assert run(scenario()) == (503, b"here /stay")


def test_a_garbage_sender_does_not_disturb_the_inbox(tmp_path: Path) -> None:
    token = secrets.token_bytes(32)
    adopted: list[bytes] = []

    def adopt(connection: socket.socket, data: bytes) -> None:
        adopted.append(data)
        connection.close()

    async def scenario() -> None:
        inbox = ConnectionInbox(tmp_path / "inbox.sock", token, adopt)
        inbox.open()
        try:
            loop = asyncio.get_running_loop()
            for garbage in (b"", b"short", b"x" * 100):
                link = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                link.setblocking(False)
                await loop.sock_connect(link, str(inbox.path))
                if garbage:
                    await loop.sock_sendall(link, garbage)
                link.close()
            left, right = socket.socketpair()
            assert await send_connection(inbox.path, token, os.dup(left.fileno()), b"GET / HTTP/1.1\r\n\r\n")
            left.close()
            right.close()
        finally:
            inbox.close()

    run(scenario())
    assert adopted == [b"GET / HTTP/1.1\r\n\r\n"]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            LeanRequest("GET", "/a b", "q=1", {"host": "h"}, keep_alive=False),
            b"GET /a b?q=1 HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n",
        ),
        (
            LeanRequest("POST", "/p", "", {"transfer-encoding": "chunked", "expect": "100-continue"}, b"xy"),
            b"POST /p HTTP/1.1\r\ncontent-length: 2\r\n\r\nxy",
        ),
    ],
)
def test_requests_are_re_encoded_with_their_own_framing(request_: LeanRequest, expected: bytes) -> None:
    assert encode_request(request_) == expected


def _slow_mover(inbox_path: Path, token: bytes, moving: asyncio.Event, go: asyncio.Event):  # type: ignore[no-untyped-def]
    """A handler whose hand-off waits for `go`: what the client sends meanwhile stays in the socket."""

    async def handler(request: LeanRequest) -> LeanResponse:
        if request.path.startswith("/move"):

            async def send(fd: int, data: bytes) -> bool:
                moving.set()
                await go.wait()
                return await send_connection(inbox_path, token, fd, data)

            return HandOff(503, b"not moved", send=send)
        return LeanResponse(200, f"here {request.path}".encode())

    return handler


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("then", ["next request", "half-close"])
def test_what_the_client_sends_during_a_hand_off_comes_after_the_moved_request(
    tmp_path: Path, then: str, loop: str
) -> None:
    token = secrets.token_bytes(32)

    async def scenario() -> list[bytes]:
        other = HttpListener(_other, SMALL)
        inbox = ConnectionInbox(tmp_path / "inbox.sock", token, other.adopt_connection)
        inbox.open()
        moving, go = asyncio.Event(), asyncio.Event()
        try:
            async with serving(_slow_mover(inbox.path, token, moving, go)) as listener:
                reader, writer = await connect(listener)
                writer.write(b"GET /move HTTP/1.1\r\nHost: h\r\n\r\n")
                await moving.wait()
                if then == "next request":
                    writer.write(b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
                else:
                    writer.write_eof()
                await writer.drain()
                await asyncio.sleep(0.05)  # in the socket, unread, before the other side adopts it
                go.set()
                bodies = [(await read_response(reader)).body]
                if then == "next request":
                    bodies.append((await read_response(reader)).body)
                writer.close()
                return bodies
        finally:
            inbox.close()
            other.close_connections()

    expected = [b"other GET /move  peer-known"]
    if then == "next request":
        expected.append(b"other GET /after  peer-known")
    if loop == "uvloop":  # the server's loop: its transports start reading as soon as they are made
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            assert runner.run(asyncio.wait_for(scenario(), 10)) == expected
    else:
        assert run(scenario()) == expected
