"""Issue 12, attack 5: a function opening thousands of idle connections to Lamina's API.

A function once opened 30,000 idle connections to AWS_ENDPOINT_URL and took the server to 20,000
descriptors; other functions' cold starts and warm calls failed until it let go. Now an
environment's connections to the API (on the port it is given, and on the public port it could find
on the host) count against a cap (`--http-limit function_connections`, set small here): past it a
new connection is reset as it is accepted, so the server's descriptors stay bounded while everyone
else keeps working.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from tests.security.conftest import VICTIM, create_function, invoke, server_in_tier
from tests.support.server import RunningServer

CAP = 64

# Children hold the connections (an environment may open 1,024 descriptors per process), each
# reporting how many of its connections the server kept and how many it reset.
FLOODER = r"""
import os, socket, time
from urllib.parse import urlsplit


def _flood(address, count, hold_seconds, report):
    held, failed = [], 0
    began = time.monotonic()
    for _ in range(count):
        try:
            held.append(socket.create_connection(address, timeout=3))
        except OSError:
            failed += 1
    took = time.monotonic() - began
    time.sleep(1.5)  # let the server accept (or reset) what it will
    open_, reset = 0, 0
    for connection in held:
        connection.setblocking(False)
        try:
            data = connection.recv(1, socket.MSG_PEEK)
            reset += 1 if data == b"" else 0
        except BlockingIOError:
            open_ += 1
        except OSError:
            reset += 1
    os.write(report, f"{open_} {reset} {failed} {int(took)}\n".encode())
    time.sleep(hold_seconds)


def handler(event, context):
    endpoint = urlsplit(os.environ["AWS_ENDPOINT_URL"])
    targets = [(endpoint.hostname, endpoint.port)] * event["children"]
    if event.get("public_port"):  # the public port is no secret on a shared host
        targets.append(("127.0.0.1", event["public_port"]))
    read_end, write_end = os.pipe()
    children = []
    for address in targets:
        pid = os.fork()
        if pid == 0:
            try:
                _flood(address, event["per_child"], event["hold_seconds"], write_end)
            finally:
                os._exit(0)
        children.append(pid)
    os.close(write_end)
    for pid in children:
        os.waitpid(pid, 0)
    with os.fdopen(read_end) as lines:
        counts = [list(map(int, line.split())) for line in lines]
    return {
        "open": sum(count[0] for count in counts),
        "reset": sum(count[1] for count in counts),
        "failed": sum(count[2] for count in counts),
        "children": len(counts),
        "took": [count[3] for count in counts],
    }
"""

# A function that uses the API itself during the flood: its own connections are not the attacker's.
API_USER = """
import boto3

def handler(event, context):
    return {"ok": True, "arn": boto3.client("sts").get_caller_identity()["Arn"]}
"""


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture(scope="module", params=["process", "namespaces"])
def capped_server(request: pytest.FixtureRequest) -> Any:
    with server_in_tier(request.param, "--http-limit", f"function_connections={CAP}") as server:
        yield server


def test_a_function_cannot_exhaust_the_servers_descriptors(capped_server: RunningServer) -> None:
    server = capped_server
    pid = server.process.pid
    warm = create_function(server, {"app.py": VICTIM}, "app.handler")
    api_user = create_function(server, {"app.py": API_USER}, "app.handler")
    for name in (warm, api_user):
        response, result = invoke(server, name, {})
        assert "FunctionError" not in response, result
    flooder = create_function(server, {"app.py": FLOODER}, "app.handler", MemorySize=512, Timeout=120)
    baseline = _descriptors(pid)

    report: dict[str, Any] = {}
    event = {"children": 3, "per_child": 600, "hold_seconds": 15, "public_port": server.port}

    def attack() -> None:
        report["response"], report["result"] = invoke(server, flooder, event)

    attacker = threading.Thread(target=attack)
    attacker.start()
    most = baseline
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and most < baseline + CAP // 2:  # the flood is under way
        most = max(most, _descriptors(pid))
        time.sleep(0.05)
    assert most >= baseline + CAP // 2, "the flood never reached the server"

    # During the flood: a cold start, warm calls, and another function's own API calls all work.
    cold = create_function(server, {"app.py": VICTIM}, "app.handler")
    response, result = invoke(server, cold, {"cold": 1})
    assert "FunctionError" not in response and result == {"ok": True, "echo": {"cold": 1}}, result
    for attempt in range(5):
        response, result = invoke(server, warm, {"warm": attempt})
        assert "FunctionError" not in response and result["echo"] == {"warm": attempt}, result
        response, result = invoke(server, api_user, {})
        assert "FunctionError" not in response and result["ok"], result
        most = max(most, _descriptors(pid))
    while attacker.is_alive():
        most = max(most, _descriptors(pid))
        attacker.join(timeout=0.1)

    assert "FunctionError" not in report["response"], report["result"]
    result = report["result"]
    attempted = event["per_child"] * result["children"]
    assert result["children"] == event["children"] + 1, result
    # The attacker kept at most its cap, wherever it connected; the rest were refused at once.
    assert result["open"] <= CAP, result
    assert result["reset"] + result["failed"] >= attempted - CAP, result
    # The server's descriptors stayed near the cap: the attacker's share, the other functions'
    # environments and the server's own (slack for those), never the thousands attempted.
    assert most <= baseline + CAP + 150, (most, baseline, result)
    response, result = invoke(server, warm, {"after": 1})
    assert "FunctionError" not in response, result
    assert server.health()["status"] == "ok"
