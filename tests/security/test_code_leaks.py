"""Issue 12, attack 6 (and 9's environ): where another function's code path could leak. A custom
runtime's argv (`<code>/bootstrap`) showed in every /proc/*/cmdline; the fork server kept the plan of
each environment it forked in its heap, inherited by every later one; and every forked environment's
/proc/self/environ showed the fork server's variables (the mount template, the data directory).

A hostile function scans what it can read: every /proc/*/cmdline, /proc/*/environ and /proc/*/cwd,
and its own memory, for the code folders of two live victims (a Python function forked by the same
fork server before it, and a custom runtime) and for the data directory. Code folders are named by
their SHA-256; the attacker is given only the hashes of those names (the names themselves in its
event would be found in its own memory), and hashes every 64-hex-digit string it finds.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from tests.security.conftest import create_custom_runtime, create_function, invoke
from tests.support.packaging import shell_runtime
from tests.support.server import RunningServer

HUNTER = r"""
import hashlib, os, re

HEX64 = re.compile(rb"[0-9a-f]{64}")

def hashed_names(data, wanted):
    return {hashlib.sha256(match).hexdigest() for match in HEX64.findall(data)} & wanted

def own_memory():
    found = b""
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", buffering=0) as memory:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]", "[vvar_vclock]")):
                continue
            start, end = (int(value, 16) for value in fields[0].split("-"))
            try:
                memory.seek(start)
                chunk = memory.read(end - start)
            except (OSError, OverflowError, ValueError):
                continue
            yield chunk

def handler(event, context):
    wanted = set(event["hashes"])
    data_dir = event["dataDir"].encode()
    seen = {"cmdline": [], "environ": [], "cwd": [], "memory": [], "data_dir": [], "readable": 0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for kind in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{kind}", "rb") as source:
                    data = source.read()
            except OSError:
                continue
            seen["readable"] += 1
            if hashed_names(data, wanted):
                seen[kind].append(pid)
            if data_dir in data:
                seen["data_dir"].append(f"{pid}/{kind}")
        try:
            target = os.readlink(f"/proc/{pid}/cwd").encode()
        except OSError:
            continue
        if hashed_names(target, wanted):
            seen["cwd"].append(pid)
    for chunk in own_memory():
        if hashed_names(chunk, wanted):
            seen["memory"].append("hit")
            break
    environ = open("/proc/self/environ", "rb").read()
    seen["own_environ_keys"] = sorted(
        entry.split(b"=", 1)[0].decode() for entry in environ.split(b"\0") if b"=" in entry
    )
    seen["pid"] = os.getpid()
    return seen
"""

VICTIM = """
SECRET = "victim code"
def handler(event, context):
    return {"ok": True}
"""

# A custom runtime that reports how it was started: $0 and its own command line.
BOOTSTRAP = shell_runtime(
    r"""
CMDLINE=$(tr '\0' ' ' < /proc/$$/cmdline)
BODY="{\"zero\": \"$0\", \"cmdline\": \"$CMDLINE\"}"
"""
)


def _code_folder_name(server: RunningServer, name: str) -> str:
    sha_base64 = server.client("lambda").get_function(FunctionName=name)["Configuration"]["CodeSha256"]
    return base64.b64decode(sha_base64).hex()


def _custom_runtime(server: RunningServer) -> str:
    return create_custom_runtime(server, BOOTSTRAP)


def _invoke_custom(server: RunningServer, name: str) -> Any:
    response = server.client("lambda").invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" not in response
    return json.loads(response["Payload"].read())


def test_custom_runtime_runs_without_its_code_path_in_argv(tier_server: RunningServer) -> None:
    name = _custom_runtime(tier_server)
    seen = _invoke_custom(tier_server, name)
    folder = _code_folder_name(tier_server, name)
    assert folder not in seen["cmdline"] and str(tier_server.data_dir) not in seen["cmdline"], seen
    # AWS runs /var/task/bootstrap; the process tier, whose code folder is a host path, runs it as
    # ./bootstrap from that folder (its working directory), see docs/compatibility.md.
    expected = "/var/task/bootstrap" if tier_server.health()["sandbox"] == "namespaces" else "./bootstrap"
    assert seen["zero"] == expected, seen


def test_no_code_path_or_data_directory_where_a_function_can_read(tier_server: RunningServer) -> None:
    tier = tier_server.health()["sandbox"]
    python_victim = create_function(tier_server, {"app.py": VICTIM}, "app.handler")
    response, _ = invoke(tier_server, python_victim)  # forked by the fork server before the hunter
    assert "FunctionError" not in response
    custom_victim = _custom_runtime(tier_server)
    _invoke_custom(tier_server, custom_victim)  # alive (keep-alive) while the hunter looks
    victims = [_code_folder_name(tier_server, name) for name in (python_victim, custom_victim)]
    hunter = create_function(tier_server, {"app.py": HUNTER}, "app.handler", Timeout=120, MemorySize=512)
    event = {
        "hashes": [hashlib.sha256(folder.encode()).hexdigest() for folder in victims],
        "dataDir": str(tier_server.data_dir),
    }
    response, seen = invoke(tier_server, hunter, event)
    assert "FunctionError" not in response, seen
    assert seen["readable"] > 0
    for place in ("cmdline", "environ", "cwd", "memory"):
        assert seen[place] == [], (place, seen)
    # The fork server's own variables never reach an environment's /proc/self/environ.
    assert not any(
        key.startswith("LAMINA_ZYGOTE") or key == "LAMINA_CONFINE_PATH" for key in seen["own_environ_keys"]
    )
    if tier == "namespaces":
        # Nothing from the host's paths: the environment sees /var/task, /tmp, /opt only. (In the
        # process tier a function's own folders are host paths below the data directory, and every
        # host process's command line is readable, the server's too: docs/security.md.)
        assert seen["data_dir"] == [], seen
