"""A fake Lambda Runtime API and a runner for Lamina's runtimes (Python's bootstrap.py, Node's
bootstrap.js) as real subprocesses: scripted invocations in, recorded posts and output out."""

from __future__ import annotations

import array
import fcntl
import json
import os
import select
import subprocess
import termios
import textwrap
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

NEXT_PATH = "/2018-06-01/runtime/invocation/next"
INIT_ERROR_PATH = "/2018-06-01/runtime/init/error"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:echo"
FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "echo",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/echo",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]0123456789abcdef",
}
# As the server launches the runtime (lamina.execution.runtimes.catalog).
SERVER_FLAGS = ("-I", "-S", "-B")
LOG_TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
NBSP = "\u00a0"


# --- Fake Runtime API ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invocation:
    request_id: str
    body: bytes = b"{}"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Post:
    path: str
    headers: Mapping[str, str]
    body: bytes
    output_ready: bool | None
    output_written: int  # bytes of output in the pipe (or read) when the post arrived
    """Whether the awaited output was in the pipe while the runtime waited for this post's answer."""

    def json(self) -> Any:
        return json.loads(self.body)


class OutputCapture:
    """Reads the runtime's merged stdout/stderr pipe as it is written."""

    def __init__(self, pause: float = 0.0) -> None:
        """`pause`: seconds before the first read (the pipe fills up meanwhile, as when the server
        reads slower than the runtime writes)."""
        self._read_fd, self.write_fd = os.pipe()
        self._data = bytearray()
        self._changed = threading.Condition()
        self._pause = pause
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def written(self) -> int:
        """Bytes the runtime has put in the pipe so far: read, plus still in the pipe. Exact: the
        reader takes a chunk from the pipe and records it under the same lock."""
        waiting = array.array("i", [0])
        with self._changed:
            fcntl.ioctl(self._read_fd, termios.FIONREAD, waiting)
            return len(self._data) + waiting[0]

    def _read(self) -> None:
        time.sleep(self._pause)
        while True:
            select.select([self._read_fd], [], [])  # readable: data, or the writer's end closed
            with self._changed:
                chunk = os.read(self._read_fd, 65536)
                if not chunk:
                    break
                self._data += chunk
                self._changed.notify_all()
        os.close(self._read_fd)

    def text(self) -> str:
        with self._changed:
            return self._data.decode("utf-8", "replace")

    def wait_for(self, needles: Iterable[str], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(
                lambda: all(needle.encode() in self._data for needle in needles), timeout
            )

    def close_writer(self) -> None:
        os.close(self.write_fd)

    def join(self) -> None:
        self._reader.join(timeout=5)


class FakeRuntimeApi:
    """Serves a scripted queue of invocations and records what the runtime posts.

    When the queue is empty the next `GET /next` closes the listener and drops the connection unanswered,
    as a server shutting down would: the runtime should then exit with status 0.
    """

    def __init__(
        self,
        invocations: Iterable[Invocation],
        output: OutputCapture,
        awaited_output: Iterable[str] = (),
    ) -> None:
        self._pending = deque(invocations)
        self._output = output
        self._awaited_output = tuple(awaited_output)
        self._lock = threading.Lock()
        self._closed = False
        self.posts: list[Post] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval: shutdown() waits for it, and every run ends with a shutdown.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                api._next(self)

            def do_POST(self) -> None:
                api._record(self)

        return Handler

    def _next(self, request: BaseHTTPRequestHandler) -> None:
        assert request.path == NEXT_PATH
        with self._lock:
            invocation = self._pending.popleft() if self._pending else None
        if invocation is None:
            self.close()
            request.close_connection = True
            return
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 3000),
            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
            "Content-Type": "application/json",
            **invocation.headers,
        }
        request.send_response(200)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(invocation.body)))
        request.end_headers()
        request.wfile.write(invocation.body)

    def _record(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", "0")))
        written = self._output.written()
        # The runtime is blocked until this post is answered, so output it writes only after posting
        # cannot show up while we wait here.
        ready = self._output.wait_for(self._awaited_output, timeout=2) if self._awaited_output else None
        with self._lock:
            self.posts.append(Post(request.path, dict(request.headers.items()), body, ready, written))
        answer = b'{"status":"OK"}'
        request.send_response(202)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(answer)))
        request.end_headers()
        request.wfile.write(answer)


@dataclass(frozen=True, slots=True)
class Run:
    returncode: int
    output: str
    posts: list[Post]

    @property
    def lines(self) -> list[str]:
        """Output lines as the server splits them: on '\\n' only."""
        return self.output.split("\n")


def run_runtime(
    task_root: Path,
    handler: str,
    invocations: Iterable[Invocation] = (),
    *,
    env: Mapping[str, str] | None = None,
    python: Iterable[str],
    runtime_file: Path,
    unbuffered: bool = True,
    awaited_output: Iterable[str] = (),
    output_pause: float = 0.0,
) -> Run:
    output = OutputCapture(output_pause)
    api = FakeRuntimeApi(invocations, output, awaited_output)
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        **FUNCTION_ENV,
        **({"PYTHONUNBUFFERED": "1"} if unbuffered else {}),
        **(env or {}),
    }
    try:
        with subprocess.Popen(
            [*python, str(runtime_file)],
            cwd=task_root,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output.write_fd,
            stderr=output.write_fd,
        ) as process:
            output.close_writer()
            try:
                returncode = process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
        output.join()
    finally:
        api.close()
    return Run(returncode, output.text(), list(api.posts))


def write_files(root: Path, files: Mapping[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


def response_path(request_id: str) -> str:
    return f"/2018-06-01/runtime/invocation/{request_id}/response"


def error_path(request_id: str) -> str:
    return f"/2018-06-01/runtime/invocation/{request_id}/error"
