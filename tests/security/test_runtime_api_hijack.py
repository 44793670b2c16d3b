"""Issue 12, attack 1: taking another environment's invocations through its Runtime API.

The Runtime API once remembered "allowed" per (peer ip, peer port). A victim with a custom runtime
talks to its Runtime API over HTTP, one connection per request (urllib asks the server to close
each), so its client ports come and go. The attacker watches /proc/net/tcp for the victim's
connections to loopback ports, binds each client port the moment the victim lets it go, and asks
that port's endpoint for the next invocation; since a new `next` replaced the parked one, it got
the victim's next event (a secret) and posted a forged answer, which the victim's caller received.

Now each connection is judged by the owner of its own socket when it is accepted, and a second
concurrent `next` is refused: the attacker's connections are reset, every secret reaches only the
victim, and the victim's callers get the victim's own answers. (In the namespaces tier, where each
environment has a network namespace of its own, the attacker does not even see the victim.)
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from typing import Any

from tests.security.conftest import DEBIAN_PYTHON, create_custom_runtime, create_function, invoke
from tests.support.server import RunningServer

# The victim's runtime: a Python script over the HTTP Runtime API (one connection per request).
VICTIM_PYTHON = DEBIAN_PYTHON if os.path.exists(DEBIAN_PYTHON) else os.path.realpath(sys.executable)
VICTIM_BOOTSTRAP = f"""#!{VICTIM_PYTHON} -I
import json, os, urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(API + "next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    answer = {{"answeredBy": "victim", "card": event.get("card")}}
    urllib.request.urlopen(urllib.request.Request(
        API + request_id + "/response", data=json.dumps(answer).encode(), method="POST"
    )).close()
"""

HIJACKER = r'''
import errno, os, socket, time

NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
STOLEN = []  # invocations the attacker received


def _hex_port(text):
    return int(text.split(":")[1], 16)


def _loopback_clients(own_uid, ports):
    """{client port: server port} of established loopback connections owned by other uids, to
    `ports` (this server's: other servers may share the host)."""
    found = {}
    with open("/proc/net/tcp") as table:
        next(table)
        for row in table:
            fields = row.split()
            if fields[3] != "01" or not fields[1].startswith("0100007F:"):
                continue
            if not fields[2].startswith("0100007F:") or int(fields[7]) in (own_uid, 0):
                continue
            if _hex_port(fields[2]) not in ports:
                continue
            found[_hex_port(fields[1])] = _hex_port(fields[2])
    return found


def _steal(client_port, server_port):
    """Bind the victim's freed client port, connect and ask for the next invocation."""
    attacker = socket.socket()
    try:
        attacker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        attacker.bind(("127.0.0.1", client_port))
        attacker.settimeout(2)
        attacker.connect(("127.0.0.1", server_port))
        attacker.sendall(NEXT)
        reply = attacker.recv(65536)
    except socket.timeout:
        return "parked", attacker  # waiting for the next invocation: keep the connection
    except OSError as error:
        attacker.close()
        if error.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
            return "busy", None
        return type(error).__name__, None
    status = reply.split(b"\r\n", 1)[0].decode("latin-1") or "closed"
    if status.startswith("HTTP/1.1 200"):
        STOLEN.append(reply.decode("latin-1"))
        _forge(attacker, reply)
    attacker.close()
    return status, None


def _forge(connection, invocation):
    """Answer a stolen invocation in the victim's place, on the connection that got it."""
    for line in invocation.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"lambda-runtime-aws-request-id":
            body = b'{"answeredBy": "attacker"}'
            request_id = value.strip().decode()
            connection.settimeout(2)
            try:
                connection.sendall(
                    f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\n"
                    f"Host: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
                )
                connection.recv(65536)
            except OSError:
                pass


def handler(event, context):
    own_uid = os.getuid()
    deadline = time.monotonic() + event["seconds"]
    seen = {}
    outcomes = {}
    parked = []
    STOLEN.clear()
    while time.monotonic() < deadline:
        current = _loopback_clients(own_uid, set(event["ports"]))
        for client_port, server_port in seen.items():
            if client_port in current:
                continue
            outcome, connection = _steal(client_port, server_port)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if connection is not None:
                parked.append(connection)
        seen = current
        for connection in list(parked):  # a parked poll that got an invocation
            connection.settimeout(0.001)
            try:
                data = connection.recv(65536)
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                data = b""
            parked.remove(connection)
            if data:
                STOLEN.append(data.decode("latin-1"))
                _forge(connection, data)
            connection.close()
        time.sleep(0.002)
    for connection in parked:
        connection.close()
    return {"outcomes": outcomes, "stolen": STOLEN, "watched": len(seen)}
'''


def _listening_ports(pid: int) -> list[int]:
    """The loopback TCP ports the server `pid` listens on (the victim's Runtime API among them)."""
    inodes = set()
    for descriptor in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{descriptor}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    with open("/proc/net/tcp") as table:
        next(table)
        rows = [row.split() for row in table]
    return [int(fields[1].split(":")[1], 16) for fields in rows if fields[3] == "0A" and fields[9] in inodes]


def test_a_function_cannot_take_another_environments_invocations(tier_server: RunningServer) -> None:
    victim = create_custom_runtime(
        tier_server, VICTIM_BOOTSTRAP, FunctionName=f"victim-{uuid.uuid4().hex[:10]}"
    )
    warm, answer = invoke(tier_server, victim, {"card": "warm-up"})
    assert "FunctionError" not in warm, answer
    assert answer == {"answeredBy": "victim", "card": "warm-up"}

    hijacker = create_function(tier_server, {"app.py": HIJACKER}, "app.handler", Timeout=60)
    report: dict[str, Any] = {}

    ports = _listening_ports(tier_server.process.pid)

    def attack() -> None:
        response, result = invoke(tier_server, hijacker, {"seconds": 12, "ports": ports})
        report["response"], report["result"] = response, result

    attacker = threading.Thread(target=attack)
    attacker.start()
    time.sleep(2)  # the attacker's environment starts and begins to watch
    secrets = [f"PAYLOAD_SECRET_{uuid.uuid4().hex}" for _ in range(12)]
    for secret in secrets:
        response, answer = invoke(tier_server, victim, {"card": secret})
        assert "FunctionError" not in response, answer
        # The victim's caller gets the victim's own answer, never a forged one.
        assert answer == {"answeredBy": "victim", "card": secret}
        time.sleep(0.3)
    attacker.join(timeout=90)
    assert not attacker.is_alive()
    assert "FunctionError" not in report["response"], report["result"]
    result = report["result"]
    stolen = json.dumps(result["stolen"])
    assert not any(secret in stolen for secret in secrets), result
    outcomes = result["outcomes"]
    assert "parked" not in outcomes and not any(key.startswith("HTTP/1.1 200") for key in outcomes), result
    if tier_server.health()["sandbox"] == "process":
        # The attack really ran: it saw the victim's connections go and tried their ports.
        assert sum(outcomes.values()) > 0, result
    # The victim still answers, and the platform serves others.
    response, answer = invoke(tier_server, victim, {"card": "after"})
    assert answer == {"answeredBy": "victim", "card": "after"}, answer
