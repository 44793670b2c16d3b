"""Admission per connection: a refused connection is reset before a byte is read, a source holds at
most its cap of connections (on every listener sharing the counts), and the owner of a loopback
connection comes from the kernel, per connection."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import replace

import pytest
from tests.unit.transport.harness import SMALL, read_response

from lamina.transport.admission import ADMITTED, REFUSED, Admission, SourceCounts
from lamina.transport.function_port import FunctionApiPort, UidsOtherThan, uid_source
from lamina.transport.http11 import LeanRequest, LeanResponse
from lamina.transport.listener import HttpListener
from lamina.transport.peers import connection_owner_uid, socket_owner_uid

LIMITS = replace(SMALL, idle_timeout=None, function_connections=2)


async def echo(request: LeanRequest) -> LeanResponse:
    return LeanResponse(200, request.path.encode(), content_type="text/plain")


async def get(host: str, port: int, path: str = "/x") -> tuple[int, asyncio.StreamWriter]:
    """One request on a new connection, left open; raises ConnectionError if it is refused."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
    try:
        response = await asyncio.wait_for(read_response(reader), 5)
    except asyncio.IncompleteReadError as error:
        writer.close()
        raise ConnectionResetError("closed without an answer") from error
    return response.status, writer


def test_a_refused_connection_is_reset_and_never_served() -> None:
    served: list[str] = []

    async def handler(request: LeanRequest) -> LeanResponse:
        served.append(request.path)
        return await echo(request)

    async def scenario() -> int:
        listener = HttpListener(handler, LIMITS, admit=lambda connection: REFUSED)
        await listener.bind("127.0.0.1", 0)
        host, port = listener.addresses[0]
        try:
            with pytest.raises(ConnectionError):
                await get(host, port)
            return len(listener.connections)
        finally:
            listener.close()

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == 0
    assert served == []


def test_a_source_holds_at_most_its_cap_and_gets_room_back_when_one_closes() -> None:
    async def scenario() -> None:
        counts = SourceCounts(2)
        listener = HttpListener(echo, LIMITS, admit=lambda connection: Admission(True, "f"), sources=counts)
        other = HttpListener(echo, LIMITS, admit=lambda connection: Admission(True, "f"), sources=counts)
        await listener.bind("127.0.0.1", 0)
        await other.bind("127.0.0.1", 0)
        host, port = listener.addresses[0]
        writers = []
        try:
            for _ in range(2):
                status, writer = await get(host, port)
                assert status == 200
                writers.append(writer)
            assert counts.open("f") == 2
            with pytest.raises(ConnectionError):  # the cap holds across listeners sharing counts
                await get(*other.addresses[0])
            with pytest.raises(ConnectionError):
                await get(host, port)
            assert counts.refused == 2
            writers.pop().close()
            for _ in range(200):  # the server sees the close
                if counts.open("f") < 2:
                    break
                await asyncio.sleep(0.01)
            status, writer = await get(host, port)
            assert status == 200
            writers.append(writer)
        finally:
            for writer in writers:
                writer.close()
            listener.close()
            other.close()
            listener.close_connections()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_an_adopted_socket_counts_every_connection_for_its_source_and_can_be_dropped() -> None:
    async def scenario() -> None:
        port = FunctionApiPort(echo, LIMITS, None, owner_of=lambda connection: None)
        listening = socket.create_server(("127.0.0.1", 0))
        address = listening.getsockname()
        port.serve(listening, "environment-1")
        writers = []
        try:
            for _ in range(2):
                status, writer = await get(*address)
                assert status == 200
                writers.append(writer)
            with pytest.raises(ConnectionError):
                await get(*address)
            assert port.sources.open("environment-1") == 2
            port.stop_serving(listening)
            port.stop_serving(listening)  # idempotent
            assert listening.fileno() == -1
        finally:
            for writer in writers:
                writer.close()
            port.close()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_the_function_port_attributes_connections_to_the_owner_uid() -> None:
    async def scenario() -> None:
        port = FunctionApiPort(echo, LIMITS, None)
        url = await port.bind()
        host, _, number = url.removeprefix("http://").rpartition(":")
        writers = []
        try:
            status, writer = await get(host, int(number))
            writers.append(writer)
            assert status == 200
            assert port.sources.open(uid_source(os.geteuid())) == 1
        finally:
            for writer in writers:
                writer.close()
            port.close()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_the_public_hook_counts_only_environment_uids_on_loopback() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()):
        accepted, _ = server.accept()
        with accepted:
            counted = FunctionApiPort(echo, LIMITS, UidsOtherThan(os.geteuid() + 1))
            assert counted.admit_public(accepted) == Admission(True, uid_source(os.geteuid()))
            ignored = FunctionApiPort(echo, LIMITS, UidsOtherThan(os.geteuid()))
            assert ignored.admit_public(accepted) == ADMITTED
            unknown = FunctionApiPort(echo, LIMITS, None)
            assert unknown.admit_public(accepted) == ADMITTED


def test_the_owner_of_a_live_connection_is_known_and_a_closed_ones_is_not() -> None:
    """A client port in TIME_WAIT belongs to nobody: it reads as uid 0 in the kernel's tables and
    must not pass for root's (or anyone's)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, peer = server.accept()
        local = accepted.getsockname()
        assert connection_owner_uid(accepted) == os.geteuid()
        assert socket_owner_uid(peer, local) == os.geteuid()
        client.close()  # the client closes first: its end goes to TIME_WAIT once we close too
        accepted.recv(1)
        accepted.close()
        assert socket_owner_uid(peer, local) is None
        assert connection_owner_uid(accepted) is None  # a closed socket has no address


def test_without_netlink_the_owner_comes_from_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    import lamina.transport.peers as peers

    monkeypatch.setattr(peers, "_diag_owner", lambda peer, local: peers._UNAVAILABLE)
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()):
        accepted, _ = server.accept()
        with accepted:
            assert connection_owner_uid(accepted) == os.geteuid()
