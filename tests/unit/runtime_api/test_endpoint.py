"""The Runtime API endpoint over real loopback sockets (Lambda developer guide, "Using the Lambda runtime API")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from lamina.runtime_api.endpoint import RuntimeApiEndpoint
from lamina.runtime_api.mailbox import Invocation, InvocationMailbox, RuntimeOutcome
from lamina.transport.http11 import DEFAULT_MAX_BODY

T = TypeVar("T")
PREFIX = "/2018-06-01/runtime"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-function"
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
ACCEPTED = b'{"status":"OK"}'


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass(slots=True)
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def send(self, raw: bytes) -> None:
        self.writer.write(raw)
        await self.writer.drain()

    async def response(self) -> Response:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 2)
        status_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        _, status, reason = status_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(": ")
            headers[name] = value
        body = await asyncio.wait_for(self.reader.readexactly(int(headers["Content-Length"])), 2)
        return Response(int(status), reason, headers, body)

    async def call(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        await self.send(request(method, path, body, headers))
        return await self.response()

    async def closed_by_server(self, timeout: float = 2) -> bool:
        return await asyncio.wait_for(self.reader.read(), timeout) == b""

    async def nothing_received(self) -> bool:
        try:
            await asyncio.wait_for(self.reader.read(1), 0.05)
        except TimeoutError:
            return True
        return False


def request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    all_headers = {"Content-Length": str(len(body))} if body or method == "POST" else {}
    all_headers.update(headers or {})
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(slots=True)
class Harness:
    mailbox: InvocationMailbox
    endpoint: RuntimeApiEndpoint
    host: str
    port: int
    connections: list[Connection] = field(default_factory=list)

    async def connect(self) -> Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        connection = Connection(reader, writer)
        self.connections.append(connection)
        return connection

    async def call(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        connection = await self.connect()
        return await connection.call(method, path, body, headers)

    async def close(self) -> None:
        for connection in self.connections:
            connection.writer.close()
            with contextlib.suppress(ConnectionError):
                await connection.writer.wait_closed()
        self.endpoint.close()
        await asyncio.sleep(0.01)  # let the server side see the disconnects


def run(scenario: Callable[[Harness], Awaitable[T]], owner_uid: int | None = None) -> T:
    async def main() -> T:
        mailbox = InvocationMailbox()
        endpoint = RuntimeApiEndpoint(mailbox)
        if owner_uid is None:
            endpoint.allow_any()
        else:
            endpoint.restrict_to(owner_uid)
        address = await endpoint.start()
        host, _, port = address.rpartition(":")
        harness = Harness(mailbox, endpoint, host, int(port))
        try:
            return await asyncio.wait_for(scenario(harness), 5)
        finally:
            await harness.close()

    return asyncio.run(main())


def invocation(request_id: str = "req-1", **extra: str) -> Invocation:
    return Invocation(
        request_id=request_id,
        payload=b'{"hello":"world"}',
        deadline_ms=1_700_000_003_000,
        invoked_function_arn=ARN,
        trace_id=TRACE,
        **extra,  # type: ignore[arg-type]
    )


async def deliver(harness: Harness) -> Response:
    """The runtime's GET /invocation/next, on a connection of its own."""
    connection = await harness.connect()
    return await connection.call("GET", f"{PREFIX}/invocation/next")


def test_start_binds_a_loopback_port() -> None:
    async def scenario(harness: Harness) -> None:
        assert harness.endpoint.address == f"127.0.0.1:{harness.port}"
        assert harness.port > 0

    run(scenario)


def test_next_delivers_the_invocation_headers_and_body() -> None:
    async def scenario(harness: Harness) -> None:
        harness.mailbox.submit(
            invocation(
                client_context='{"client":{"app_title":"t"}}', cognito_identity='{"cognitoIdentityId":"id"}'
            )
        )
        response = await deliver(harness)
        assert (response.status, response.reason) == (200, "OK")
        assert response.headers == {
            "Content-Type": "application/json",
            "Content-Length": "17",
            "Lambda-Runtime-Aws-Request-Id": "req-1",
            "Lambda-Runtime-Deadline-Ms": "1700000003000",
            "Lambda-Runtime-Invoked-Function-Arn": ARN,
            "Lambda-Runtime-Trace-Id": TRACE,
            "Lambda-Runtime-Client-Context": '{"client":{"app_title":"t"}}',
            "Lambda-Runtime-Cognito-Identity": '{"cognitoIdentityId":"id"}',
        }
        assert response.body == b'{"hello":"world"}'
        assert harness.mailbox.first_poll.is_set()

    run(scenario)


def test_next_omits_client_context_and_identity_when_absent() -> None:
    async def scenario(harness: Harness) -> None:
        harness.mailbox.submit(invocation())
        response = await deliver(harness)
        assert "Lambda-Runtime-Client-Context" not in response.headers
        assert "Lambda-Runtime-Cognito-Identity" not in response.headers
        assert response.headers["Lambda-Runtime-Aws-Request-Id"] == "req-1"

    run(scenario)


def test_a_parked_next_is_answered_when_an_invocation_arrives() -> None:
    async def scenario(harness: Harness) -> None:
        connection = await harness.connect()
        await connection.send(request("GET", f"{PREFIX}/invocation/next"))
        await asyncio.wait_for(harness.mailbox.first_poll.wait(), 2)
        assert await connection.nothing_received()  # parked until there is work
        harness.mailbox.submit(invocation())
        response = await connection.response()
        assert (response.status, response.body) == (200, b'{"hello":"world"}')

    run(scenario)


def test_posting_the_response_resolves_the_outcome() -> None:
    async def scenario(harness: Harness) -> None:
        outcome = harness.mailbox.submit(invocation())
        await deliver(harness)
        response = await harness.call("POST", f"{PREFIX}/invocation/req-1/response", b'{"result":42}')
        assert (response.status, response.reason, response.body) == (202, "Accepted", ACCEPTED)
        assert response.headers["Content-Type"] == "application/json"
        assert await outcome == RuntimeOutcome("response", b'{"result":42}')

    run(scenario)


def test_posting_an_error_carries_the_error_type_header() -> None:
    async def scenario(harness: Harness) -> None:
        outcome = harness.mailbox.submit(invocation())
        await deliver(harness)
        body = b'{"errorMessage":"boom","errorType":"ValueError","stackTrace":[]}'
        response = await harness.call(
            "POST",
            f"{PREFIX}/invocation/req-1/error",
            body,
            {"Lambda-Runtime-Function-Error-Type": "Runtime.ValueError"},
        )
        assert (response.status, response.body) == (202, ACCEPTED)
        assert await outcome == RuntimeOutcome("error", body, "Runtime.ValueError")

    run(scenario)


def test_an_unknown_request_id_is_rejected() -> None:
    async def scenario(harness: Harness) -> None:
        outcome = harness.mailbox.submit(invocation())
        await deliver(harness)
        for action in ["response", "error"]:
            response = await harness.call("POST", f"{PREFIX}/invocation/req-other/{action}", b"{}")
            assert (response.status, response.reason) == (400, "Bad Request")
            assert response.json() == {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
        assert not outcome.done()

    run(scenario)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/2018-06-01/ping"),
        ("POST", "/2018-06-01/runtime/invocation/req-1/unknown"),
        ("POST", "/2018-06-01/runtime/invocation/"),
        ("POST", "/2020-01-01/runtime/invocation/req-1/response"),
    ],
)
def test_unknown_paths_are_404(method: str, path: str) -> None:
    async def scenario(harness: Harness) -> None:
        response = await harness.call(method, path, b"{}" if method == "POST" else b"")
        assert (response.status, response.reason) == (404, "Not Found")
        assert response.json() == {"errorMessage": f"Unknown path {path}", "errorType": "InvalidRequest"}

    run(scenario)


def test_get_on_an_unknown_runtime_route_is_404() -> None:
    async def scenario(harness: Harness) -> None:
        response = await harness.call("GET", f"{PREFIX}/unknown")
        assert (response.status, response.reason) == (404, "Not Found")
        assert response.json() == {
            "errorMessage": f"Unknown path {PREFIX}/unknown",
            "errorType": "InvalidRequest",
        }

    run(scenario)


@pytest.mark.parametrize(
    ("method", "route"),
    [
        ("POST", "invocation/next"),
        ("PUT", "invocation/next"),
        ("GET", "invocation/req-1/response"),
        ("GET", "invocation/req-1/error"),
        ("DELETE", "init/error"),
    ],
)
def test_wrong_methods_are_405(method: str, route: str) -> None:
    async def scenario(harness: Harness) -> None:
        response = await harness.call(method, f"{PREFIX}/{route}")
        assert (response.status, response.reason) == (405, "Method Not Allowed")
        assert response.json() == {"errorMessage": "Method not allowed", "errorType": "InvalidRequest"}
        assert not harness.mailbox.first_poll.is_set()

    run(scenario)


def test_init_error_is_accepted_and_recorded() -> None:
    async def scenario(harness: Harness) -> None:
        body = b'{"errorMessage":"Unable to import module","errorType":"Runtime.ImportModuleError"}'
        response = await harness.call(
            "POST",
            f"{PREFIX}/init/error",
            body,
            {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"},
        )
        assert (response.status, response.body) == (202, ACCEPTED)
        assert harness.mailbox.init_error == RuntimeOutcome("init_error", body, "Runtime.ImportModuleError")
        outcome = harness.mailbox.submit(invocation())
        assert (await outcome).kind == "init_error"

    run(scenario)


def test_keep_alive_serves_a_whole_cycle_on_one_connection() -> None:
    async def scenario(harness: Harness) -> None:
        connection = await harness.connect()
        for number in range(3):
            outcome = harness.mailbox.submit(invocation(f"req-{number}"))
            delivered = await connection.call("GET", f"{PREFIX}/invocation/next")
            assert delivered.headers["Lambda-Runtime-Aws-Request-Id"] == f"req-{number}"
            posted = await connection.call(
                "POST", f"{PREFIX}/invocation/req-{number}/response", str(number).encode()
            )
            assert posted.status == 202
            assert (await outcome).payload == str(number).encode()
        assert len(harness.connections) == 1
        assert not connection.reader.at_eof()

    run(scenario)


def test_query_strings_are_ignored() -> None:
    async def scenario(harness: Harness) -> None:
        harness.mailbox.submit(invocation())
        response = await harness.call("GET", f"{PREFIX}/invocation/next?extra=1")
        assert response.status == 200

    run(scenario)


@pytest.mark.parametrize(
    "raw",
    [b"THIS IS NOT HTTP\r\n\r\n", b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n", b"\x00\x01\x02\r\n\r\n"],
    ids=["request-line", "header", "binary"],
)
def test_malformed_http_gets_400_and_the_connection_is_closed(raw: bytes) -> None:
    async def scenario(harness: Harness) -> None:
        connection = await harness.connect()
        await connection.send(raw)
        response = await connection.response()
        assert (response.status, response.reason) == (400, "Bad Request")
        assert response.json() == {"errorMessage": "bad request"}
        assert await connection.closed_by_server()

    run(scenario)


def test_a_chunked_response_body_is_accepted() -> None:
    async def scenario(harness: Harness) -> None:
        outcome = harness.mailbox.submit(invocation())
        await deliver(harness)
        connection = await harness.connect()
        await connection.send(
            f"POST {PREFIX}/invocation/req-1/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        for piece in [b'{"chunk', b'ed":', b"true}"]:
            await connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await asyncio.sleep(0)
        await connection.send(b"0\r\n\r\n")
        response = await connection.response()
        assert (response.status, response.body) == (202, ACCEPTED)
        assert await outcome == RuntimeOutcome("response", b'{"chunked":true}')

    run(scenario)


def test_a_body_split_across_packets_is_reassembled() -> None:
    async def scenario(harness: Harness) -> None:
        outcome = harness.mailbox.submit(invocation())
        await deliver(harness)
        connection = await harness.connect()
        raw = request("POST", f"{PREFIX}/invocation/req-1/response", b"x" * 100_000)
        for start in range(0, len(raw), 7_001):
            await connection.send(raw[start : start + 7_001])
        response = await connection.response()
        assert response.status == 202
        assert (await outcome).payload == b"x" * 100_000

    run(scenario)


def test_connection_close_is_honoured() -> None:
    async def scenario(harness: Harness) -> None:
        connection = await harness.connect()
        response = await connection.call(
            "POST", f"{PREFIX}/invocation/nobody/response", b"{}", {"Connection": "close"}
        )
        assert response.status == 400
        assert await connection.closed_by_server(timeout=0.5)

    run(scenario)


def test_http_1_0_without_keep_alive_is_closed_after_the_response() -> None:
    async def scenario(harness: Harness) -> None:
        connection = await harness.connect()
        await connection.send(b"GET / HTTP/1.0\r\n\r\n")
        response = await connection.response()
        assert response.status == 404
        assert await connection.closed_by_server()

    run(scenario)


def test_a_body_over_the_request_limit_is_413_and_fails_the_invocation() -> None:
    async def scenario(harness: Harness) -> None:
        outcome = harness.mailbox.submit(invocation())
        await deliver(harness)
        response = await harness.call(
            "POST", f"{PREFIX}/invocation/req-1/response", b"x" * (DEFAULT_MAX_BODY + 1)
        )
        assert response.status == 413
        assert response.json() == {"errorMessage": "Payload too large", "errorType": "RequestEntityTooLarge"}
        result = await outcome
        assert (result.kind, result.error_type) == ("error", "Function.ResponseSizeTooLarge")

    run(scenario)


def test_close_releases_a_parked_next_and_refuses_new_connections() -> None:
    async def scenario(harness: Harness) -> None:
        connection = await harness.connect()
        await connection.send(request("GET", f"{PREFIX}/invocation/next"))
        await asyncio.wait_for(harness.mailbox.first_poll.wait(), 2)
        harness.endpoint.close()
        await asyncio.sleep(0.02)
        with pytest.raises(OSError):
            await asyncio.open_connection(harness.host, harness.port)
        harness.mailbox.submit(invocation())  # the cancelled poll did not take it
        assert (await harness.mailbox.next()).request_id == "req-1"

    run(scenario)


def test_a_caller_of_another_uid_is_refused_when_the_environment_has_its_own() -> None:
    """One function must not take another's invocations by connecting to its port: its connection
    is reset as it is accepted, before a request is read."""

    async def scenario(harness: Harness) -> None:
        harness.mailbox.submit(invocation())
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await harness.call("GET", f"{PREFIX}/invocation/next")
        assert not harness.mailbox.first_poll.is_set()

    run(scenario, owner_uid=os.getuid() + 4242)


def test_each_connection_is_judged_by_its_own_socket_not_by_its_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A verdict is never kept for an address: the owner of every new connection is asked again (a
    freed client port can be bound by another uid)."""
    import lamina.runtime_api.endpoint as endpoint_module

    owners = iter([os.getuid(), os.getuid() + 4242])
    asked: list[tuple[str, int]] = []

    def owner_of(connection: socket.socket) -> int | None:
        asked.append(connection.getpeername())
        return next(owners)

    monkeypatch.setattr(endpoint_module, "connection_owner_uid", owner_of)

    async def scenario(harness: Harness) -> None:
        first = await harness.connect()
        await first.send(request("POST", f"{PREFIX}/init/error", b"{}"))
        assert (await first.response()).status == 202
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await harness.call("GET", f"{PREFIX}/invocation/next")
        assert len(asked) == 2

    run(scenario, owner_uid=os.getuid())


def test_a_second_concurrent_next_is_refused_and_the_first_keeps_its_place() -> None:
    """A parked `next` is never replaced: a second one is refused (403 InvalidStateTransition) and
    the invocation goes to the first."""

    async def scenario(harness: Harness) -> None:
        first = await harness.connect()
        await first.send(request("GET", f"{PREFIX}/invocation/next"))
        for _ in range(100):
            if harness.mailbox.polling:
                break
            await asyncio.sleep(0.01)
        second = await harness.call("GET", f"{PREFIX}/invocation/next")
        assert second.status == 403
        assert second.json() == {
            "errorMessage": "A runtime is already waiting for the next invocation of this execution environment",
            "errorType": "InvalidStateTransition",
        }
        harness.mailbox.submit(invocation("req-7"))
        answered = await first.response()
        assert answered.status == 200
        assert answered.headers["Lambda-Runtime-Aws-Request-Id"] == "req-7"

    run(scenario)


def test_the_environments_own_uid_is_served() -> None:
    async def scenario(harness: Harness) -> None:
        harness.mailbox.submit(invocation())
        response = await harness.call("GET", f"{PREFIX}/invocation/next")
        assert response.status == 200

    run(scenario, owner_uid=os.getuid())


def test_requests_wait_until_the_owner_is_known() -> None:
    async def scenario() -> None:
        mailbox = InvocationMailbox()
        endpoint = RuntimeApiEndpoint(mailbox)
        host, _, port = (await endpoint.start()).rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        )
        await writer.drain()
        await asyncio.sleep(0.05)
        assert not mailbox.init_error_posted.is_set()  # parked: the owner is not known yet
        endpoint.restrict_to(os.getuid())
        status_line = await asyncio.wait_for(reader.readline(), 5)
        assert b" 202 " in status_line
        writer.close()
        endpoint.close()

    asyncio.run(scenario())
