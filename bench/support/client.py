"""SigV4-signed requests to a Lamina server, serialised once, and the control-plane calls benchmarks need.

Requests are signed with botocore's signer (the server's own test oracle) and serialised to bytes
for `Connection.exchange`. A signature stays valid for 15 minutes and the server does not reject
replays, so load generators sign each distinct request once per phase (phases last far less) and
send the same bytes repeatedly: SigV4 signing (~0.1 ms of client CPU) stays out of the
measurement. Latency phases sign every request afresh, outside the timed region.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.support.server import EXECUTION_ROLE

from bench.support.connection import Connection

HOST = "127.0.0.1"
REGION = "us-east-1"
ROLE = EXECUTION_ROLE  # the test harness creates it in every server it starts
HEALTH_PATH = "/_lamina/health"
# The runtime of the server's own interpreter: what the cold-start baseline spawns.
OWN_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
HELLO_SOURCE = "def handler(event, context):\n    return {'hello': 'world'}\n"
# A successful hello-world invocation's body contains this; an error document does not.
HELLO_MARKER = b'"hello"'


def invoke_path(name: str) -> str:
    return f"/2015-03-31/functions/{name}/invocations"


class RequestSigner:
    """Serialises requests to 127.0.0.1:`port`, signed for the `lambda` service like an SDK would."""

    def __init__(self, port: int, access_key: str, secret_key: str, region: str = REGION) -> None:
        self._authority = f"{HOST}:{port}"
        self._auth = SigV4Auth(Credentials(access_key, secret_key), "lambda", region)

    def signed(self, method: str, path: str, body: bytes = b"") -> bytes:
        request = AWSRequest(method=method, url=f"http://{self._authority}{path}", data=body)
        self._auth.add_auth(request)
        return self._serialise(method, path, body, request.headers.items())

    def unsigned(self, method: str, path: str, body: bytes = b"") -> bytes:
        return self._serialise(method, path, body, [])

    def _serialise(self, method: str, path: str, body: bytes, headers: Any) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._authority}"]
        lines.extend(f"{name}: {value}" for name, value in headers if name.lower() != "host")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class BenchError(RuntimeError):
    """The server answered a benchmark's control-plane call unexpectedly."""


class SignedClient:
    """Control-plane calls and timed single requests over one keep-alive connection."""

    def __init__(self, port: int, access_key: str, secret_key: str, timeout: float = 60.0) -> None:
        self.signer = RequestSigner(port, access_key, secret_key)
        self.connection = Connection(HOST, port, timeout)

    def close(self) -> None:
        self.connection.close()

    def create_function(
        self, name: str, zip_file: bytes, memory_mb: int = 128, runtime: str = OWN_RUNTIME
    ) -> None:
        document = {
            "FunctionName": name,
            "Runtime": runtime,
            "Role": ROLE,
            "Handler": "app.handler",
            "MemorySize": memory_mb,
            "Code": {"ZipFile": base64.b64encode(zip_file).decode()},
        }
        request = self.signer.signed("POST", "/2015-03-31/functions", json.dumps(document).encode())
        status, body = self.connection.exchange(request)
        if status != 201:
            raise BenchError(f"CreateFunction {name}: {status} {body[:300]!r}")
        self.wait_active(name)

    def wait_active(self, name: str, timeout: float = 60.0) -> None:
        """CreateFunction answers Pending, as AWS does: poll GetFunctionConfiguration until Active."""
        deadline = time.monotonic() + timeout
        while True:
            request = self.signer.signed("GET", f"/2015-03-31/functions/{name}/configuration", b"")
            status, body = self.connection.exchange(request)
            if status != 200:
                raise BenchError(f"GetFunctionConfiguration {name}: {status} {body[:300]!r}")
            state = json.loads(body).get("State")
            if state == "Active":
                return
            if state == "Failed" or time.monotonic() > deadline:
                raise BenchError(f"{name} did not become Active: {body[:300]!r}")
            time.sleep(0.01)

    def health(self) -> dict[str, Any]:
        status, body = self.connection.exchange(self.signer.unsigned("GET", HEALTH_PATH))
        if status != 200:
            raise BenchError(f"health: {status} {body[:300]!r}")
        return json.loads(body)

    def timed_invoke(self, name: str, payload: bytes = b"{}") -> float:
        """Milliseconds for one RequestResponse invocation; signing happens before the clock starts."""
        request = self.signer.signed("POST", invoke_path(name), payload)
        started = time.perf_counter()
        status, body = self.connection.exchange(request)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200 or HELLO_MARKER not in body:
            raise BenchError(f"Invoke {name}: {status} {body[:300]!r}")
        return elapsed

    def timed_echo(self) -> float:
        """Milliseconds for one unauthenticated round trip to the health endpoint (the transport floor)."""
        request = self.signer.unsigned("GET", HEALTH_PATH)
        started = time.perf_counter()
        status, _ = self.connection.exchange(request)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            raise BenchError(f"health: {status}")
        return elapsed


def create_functions(
    port: int,
    credentials: tuple[str, str],
    names: Sequence[str],
    zip_file: bytes,
    *,
    workers: int = 4,
    deadline: float,
    runtime: str = OWN_RUNTIME,
) -> list[str]:
    """Create `names` with `workers` parallel connections until `time.monotonic()` passes `deadline`.

    Returns the names created; the first failure stops the creation and is raised once every
    worker has stopped.
    """
    if not names:
        return []
    # The first one alone: concurrent first writes of the same code blob collide in the server's
    # filesystem blob store today (one staging file name per process); once stored, later
    # creations with the same ZIP find the blob and skip the write.
    first = SignedClient(port, *credentials)
    try:
        first.create_function(names[0], zip_file, runtime=runtime)
    finally:
        first.close()
    pending = list(reversed(names[1:]))
    created: list[str] = [names[0]]
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        client = SignedClient(port, *credentials)
        try:
            while time.monotonic() < deadline:
                with lock:
                    if not pending or failures:
                        return
                    name = pending.pop()
                client.create_function(name, zip_file, runtime=runtime)
                with lock:
                    created.append(name)
        except BaseException as error:
            with lock:
                failures.append(error)
        finally:
            client.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(workers, len(pending))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return created
