"""Attacks that held when they were first tried (issue 11's hostile functions): every attempt fails
or ends only the attacker's environment, with a clear error, and the server keeps serving others.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.server import EXECUTION_ROLE as ROLE
from tests.support.server import RunningServer

ATTACKER = r"""
import json, os, signal, subprocess, time

def _attempt(action):
    try:
        return {"ok": True, "value": action()}
    except OSError as error:
        return {"ok": False, "error": type(error).__name__, "errno": error.errno}

def read(event, context):
    return {path: _attempt(lambda path=path: open(path, "rb").read(64).hex()) for path in event["paths"]}

def write(event, context):
    def put(path):
        with open(path, "w") as target:
            target.write("owned")
        return path
    return {path: _attempt(lambda path=path: put(path)) for path in event["paths"]}

def fill_tmp(event, context):
    folder = os.environ.get("TMPDIR", "/tmp")
    chunk = b"x" * (8 * 1024 * 1024)
    written = 0
    try:
        with open(os.path.join(folder, "fill"), "wb") as target:
            while written < event["megabytes"] * 1024 * 1024:
                target.write(chunk)
                target.flush()
                written += len(chunk)
    except OSError as error:
        return {"written_mb": written // (1024 * 1024), "error": type(error).__name__, "errno": error.errno}
    finally:
        os.unlink(os.path.join(folder, "fill"))
    return {"written_mb": written // (1024 * 1024), "error": None}

def signal_pid(event, context):
    return {name: _attempt(lambda sig=sig: os.kill(event["pid"], sig)) for name, sig in
            (("probe", 0), ("term", signal.SIGTERM), ("kill", signal.SIGKILL))}

def fork_bomb(event, context):
    children, failure = [], None
    try:
        for _ in range(event["count"]):
            children.append(subprocess.Popen(["sleep", "60"]))
    except OSError as error:
        failure = type(error).__name__
    for child in children:
        child.kill()
    for child in children:
        child.wait()
    return {"started": len(children), "failure": failure}

def steal_invocations(event, context):
    # Connect to every listening loopback port and ask it for the next invocation.
    import socket
    ports = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for row in table:
            fields = row.split()
            if fields[3] == "0A" and fields[1].startswith("0100007F:"):  # LISTEN on 127.0.0.1
                ports.add(int(fields[1].split(":")[1], 16))
    own = int(os.environ.get("AWS_LAMBDA_RUNTIME_API", ":0").rsplit(":", 1)[1])
    if event.get("ports"):  # the test names this server's ports: other servers may share the host
        ports &= set(event["ports"])
    answers = {}
    for port in sorted(ports - {own}):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                connection.settimeout(1)
                connection.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
                answers[port] = connection.recv(64).decode("latin-1").split("\r\n")[0]
        except socket.timeout:
            answers[port] = "parked"  # the endpoint would hand this caller the next invocation
        except OSError as error:
            answers[port] = type(error).__name__
    answers["own"] = own
    return answers

def hog(event, context):
    blocks = []
    while True:
        blocks.append(bytearray(64 * 1024 * 1024))
        for index in range(0, len(blocks[-1]), 4096):
            blocks[-1][index] = 1
"""

VICTIM = """
import os
TOKEN = os.urandom(8).hex()
def handler(event, context):
    return {"pid": os.getpid(), "uid": os.getuid(), "token": TOKEN}
"""


def _create(client: Any, files: dict[str, str], handler: str, **options: Any) -> str:
    name = f"iso-{uuid.uuid4().hex[:10]}"
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler=handler,
        Code={"ZipFile": make_zip(files)},
        **options,
    )
    wait_active(client, name)
    return name


def _invoke(client: Any, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    return response, json.loads(response["Payload"].read())


def _attacker(server: RunningServer, handler: str, **options: Any) -> str:
    options.setdefault("Timeout", 30)
    return _create(server.client("lambda"), {"app.py": ATTACKER}, f"app.{handler}", **options)


def _still_serving(server: RunningServer) -> None:
    client = server.client("lambda")
    name = _create(client, {"app.py": VICTIM}, "app.handler")
    response, result = _invoke(client, name, {})
    assert "FunctionError" not in response, result
    assert server.health()["status"] == "ok"


def _code_path(server: RunningServer, name: str) -> Path:
    sha_base64 = server.client("lambda").get_function(FunctionName=name)["Configuration"]["CodeSha256"]
    return server.data_dir / "code" / base64.b64decode(sha_base64).hex()


def test_data_directory_and_other_functions_code_are_unreadable(tier_server: RunningServer) -> None:
    client = tier_server.client("lambda")
    secret_code = _create(client, {"app.py": VICTIM + "\nSECRET = 'other function'\n"}, "app.handler")
    other_code = _code_path(tier_server, secret_code) / "app.py"
    data = tier_server.data_dir
    assert other_code.exists() and (data / "lamina.db").exists()
    targets = [
        str(data / "lamina.db"),
        str(data / "secrets" / "root-credentials.json"),
        str(data / "secrets" / "code.key"),
        # Other functions' queued events, identities, metrics, alarms and bills.
        *(str(data / name) for name in ("queue.db", "identity.db", "metrics.db", "alarms.db", "billing.db")),
    ]
    # Another function's code, by its host path, while an environment of it is alive: the process
    # tier shares the host's file system, and only that environment's uid may read the folder
    # (sandbox/code_access.py); the namespaces tier does not even show the path.
    targets += [str(other_code), str(other_code.parent)]
    response, _ = _invoke(client, secret_code, {})
    assert "FunctionError" not in response
    name = _attacker(tier_server, "read")
    response, result = _invoke(client, name, {"paths": targets})
    assert "FunctionError" not in response, result
    for path in targets:
        assert result[path]["ok"] is False, (path, result[path])
        assert result[path]["error"] in ("PermissionError", "FileNotFoundError")
    _still_serving(tier_server)


def test_writes_outside_tmp_fail(tier_server: RunningServer) -> None:
    client = tier_server.client("lambda")
    name = _attacker(tier_server, "write")
    own_code = _code_path(tier_server, name)
    inside = "/var/task" if tier_server.health()["sandbox"] == "namespaces" else str(own_code)
    targets = [f"{inside}/app.py", f"{inside}/planted.py", "/etc/planted", "/usr/planted"]
    response, result = _invoke(client, name, {"paths": targets})
    assert "FunctionError" not in response, result
    for path in targets:
        assert result[path]["ok"] is False, (path, result[path])
    assert (own_code / "app.py").read_text() == ATTACKER
    assert not (own_code / "planted.py").exists()


def test_tmp_stops_at_ephemeral_storage(tier_server: RunningServer) -> None:
    client = tier_server.client("lambda")
    name = _attacker(tier_server, "fill_tmp", MemorySize=1024, EphemeralStorage={"Size": 512})
    response, result = _invoke(client, name, {"megabytes": 600})
    assert "FunctionError" not in response, result
    # tmpfs: "No space left on device"; process tier: RLIMIT_FSIZE's "File too large".
    assert result["error"] == "OSError" and result["errno"] in (28, 27), result
    assert result["written_mb"] <= 512
    _still_serving(tier_server)


def test_server_cannot_be_signalled(tier_server: RunningServer) -> None:
    client = tier_server.client("lambda")
    name = _attacker(tier_server, "signal_pid")
    response, result = _invoke(client, name, {"pid": tier_server.process.pid})
    assert "FunctionError" not in response, result
    for attempt in result.values():
        # Another uid (EPERM), or not even visible from the environment's PID namespace (ESRCH).
        assert attempt["ok"] is False and attempt["error"] in ("PermissionError", "ProcessLookupError")
    assert tier_server.process.poll() is None
    _still_serving(tier_server)


def test_other_environments_cannot_be_signalled(tier_server: RunningServer) -> None:
    client = tier_server.client("lambda")
    victim = _create(client, {"app.py": VICTIM}, "app.handler")
    _, before = _invoke(client, victim, {})
    name = _attacker(tier_server, "signal_pid")
    # In the namespaces tier the victim's own pid (2) names the attacker's own runtime inside its
    # namespace: the attacker is given the victim's host pid instead, as found from outside.
    target = before["pid"] if before["pid"] != 2 else _host_pid_of_uid(before["uid"])
    response, result = _invoke(client, name, {"pid": target})
    assert "FunctionError" not in response, result
    if tier_server.health()["sandbox"] == "process":
        assert all(attempt["error"] == "PermissionError" for attempt in result.values()), result
    _, after = _invoke(client, victim, {})
    assert after["token"] == before["token"]  # the victim's warm environment survived


def test_fork_bomb_stops_at_the_process_limit(tier_server: RunningServer) -> None:
    client = tier_server.client("lambda")
    name = _attacker(tier_server, "fork_bomb", MemorySize=1024)
    response, result = _invoke(client, name, {"count": 5000})
    assert "FunctionError" not in response, result
    assert result["failure"] in ("BlockingIOError", "OSError"), result
    assert result["started"] < 1024
    _still_serving(tier_server)


def test_memory_past_memory_size_ends_only_that_environment(tier_server: RunningServer) -> None:
    client = tier_server.client("lambda")
    name = _attacker(tier_server, "hog", MemorySize=128)
    response, result = _invoke(client, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert result["errorType"] == "Runtime.OutOfMemory", result
    _still_serving(tier_server)


def test_killing_the_environment_from_outside_reports_an_exit(tier_server: RunningServer) -> None:
    """The PID the server holds (the waiter outside a PID namespace) stands for the environment."""
    client = tier_server.client("lambda")
    name = _create(
        client, {"app.py": "import time\ndef handler(e, c):\n    time.sleep(e['sleep'])\n"}, "app.handler"
    )
    _invoke(client, name, {"sleep": 0})
    before = {pid for pid in _children(tier_server.process.pid)}
    assert before
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    response, result = _invoke(client, name, {"sleep": 0})
    # The dead environment is noticed when it is next used, or replaced: either way the call works
    # or fails as a runtime exit, never with a server error.
    assert "FunctionError" not in response or result["errorType"] == "Runtime.ExitError", result
    _still_serving(tier_server)


def _processes(file: str) -> Iterator[tuple[int, str]]:
    """(pid, text of /proc/PID/`file`) of every process still there when read."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                yield int(entry), Path(f"/proc/{entry}/{file}").read_text()
            except OSError:
                continue


def _host_pid_of_uid(uid: int) -> int:
    for pid, status in _processes("status"):
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields["Uid"].split()[0]) == uid:
            return pid
    raise AssertionError(f"no process of uid {uid}")


def _children(parent: int) -> list[int]:
    return [pid for pid, stat in _processes("stat") if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent]


def _listening_ports(pid: int) -> list[int]:
    """Loopback ports a process listens on (its sockets' inodes matched against /proc/net/tcp)."""
    inodes = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = []
    with open("/proc/net/tcp") as table:
        next(table)
        for row in table:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.append(int(fields[1].split(":")[1], 16))
    return ports


def test_runtime_api_of_another_environment_refuses_the_caller(tier_server: RunningServer) -> None:
    """Each environment's Runtime API port is reachable on loopback; only its own uid is served."""
    client = tier_server.client("lambda")
    victim = _create(client, {"app.py": VICTIM}, "app.handler")
    _, before = _invoke(client, victim, {})  # a warm victim environment, its HTTP endpoint listening
    name = _attacker(tier_server, "steal_invocations")
    response, answers = _invoke(client, name, {"ports": _listening_ports(tier_server.process.pid)})
    assert "FunctionError" not in response, answers
    answers.pop("own")  # the attacker skips its own port
    assert answers, "the attacker found no listening ports at all"
    assert "parked" not in answers.values(), answers
    assert not any(answer.startswith("HTTP/1.1 200") for answer in answers.values()), answers
    # Refused: reset as it is accepted (another uid's socket), or 403 (older servers).
    refused = ("ConnectionResetError", "")
    assert any(answer.startswith("HTTP/1.1 403") or answer in refused for answer in answers.values()), answers
    _, after = _invoke(client, victim, {})
    assert after["token"] == before["token"]
