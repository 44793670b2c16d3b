"""Node.js standbys: after a Node runtime's first cold start, the server keeps a booted Node process
waiting; the next cold start of any function of that runtime becomes it, and is then that function's
environment in every respect: its code, layers, variables, credentials, limits and log stream."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lambda_calls import wait_active
from tests.support.packaging import make_zip
from tests.support.runtimes import node_runtime
from tests.support.server import EXECUTION_ROLE, RunningServer, running_server

pytestmark = pytest.mark.skipif(node_runtime() is None, reason="no node on this host")

REPORT = """
const TOKEN = Math.random();
exports.handler = async (event, context) => {
  if (event.allocate) {
    const chunks = [];
    for (let i = 0; i < event.allocate; i++) chunks.push(Buffer.alloc(1024 * 1024, 1));
    return chunks.length;
  }
  let layer = null;
  try { layer = require("from-layer"); } catch (error) { layer = error.code; }
  return {
    startedAt: Date.now() - process.uptime() * 1000,  // when this process started
    token: TOKEN,
    cwd: process.cwd(),
    name: context.functionName,
    memory: context.memoryLimitInMB,
    variables: Object.keys(process.env).filter((key) => key.startsWith("LAMINA")),
    mine: process.env.MINE,
    credentials: Boolean(process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SESSION_TOKEN),
    layer,
    code: require("fs").readdirSync(".").sort(),
  };
};
"""


@pytest.fixture(scope="module")
def node_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    sandbox = os.environ.get("LAMINA_TEST_SANDBOX", "process")
    with running_server(tmp_path_factory.mktemp("standby") / "data", "--sandbox", sandbox) as server:
        yield server


def _create(client: Any, name: str, files: dict[str, str], **options: Any) -> None:
    client.create_function(
        FunctionName=name,
        Runtime=node_runtime(),
        Role=EXECUTION_ROLE,
        Handler="index.handler",
        Code={"ZipFile": make_zip(files)},
        **options,
    )
    wait_active(client, name)


def _invoke(client: Any, name: str, event: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    return json.loads(response["Payload"].read()), response


def _standby_ready(server: RunningServer, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while server.health()["nodeStandbys"] < 1:
        assert time.monotonic() < deadline, "no Node.js standby was started"
        time.sleep(0.05)


def test_a_cold_start_becomes_a_booted_standby_and_is_its_function_in_every_respect(
    node_server: RunningServer,
) -> None:
    client = node_server.client("lambda")
    assert node_server.health()["nodeStandbys"] == 0  # none before a Node function ran
    _create(client, "first", {"index.js": REPORT})
    first, _ = _invoke(client, "first")
    _standby_ready(node_server)

    layer = client.publish_layer_version(
        LayerName="standby-layer",
        Content={
            "ZipFile": make_zip({"nodejs/node_modules/from-layer/index.js": "module.exports = 'layer';"})
        },
    )
    created_after = time.time() * 1000
    _create(
        client,
        "second",
        {"index.js": REPORT, "extra.txt": "x"},
        MemorySize=256,
        Environment={"Variables": {"MINE": "second's"}},
        Layers=[layer["LayerVersionArn"]],
    )
    second, response = _invoke(client, "second")
    assert "FunctionError" not in response, second
    assert second["startedAt"] < created_after  # booted before the function existed: a standby
    assert second["token"] != first["token"]
    assert (second["name"], second["memory"], second["mine"]) == ("second", "256", "second's")
    assert second["variables"] == []  # nothing of Lamina's or of the standby's
    assert second["credentials"] and second["layer"] == "layer"
    assert second["code"] == ["extra.txt", "index.js"]  # its working directory is its code folder
    again, _ = _invoke(client, "second")
    assert again["token"] == second["token"]  # warm: the same process


def test_a_standby_gets_the_functions_memory_limit(node_server: RunningServer) -> None:
    client = node_server.client("lambda")
    _create(client, "warmup", {"index.js": REPORT})
    _invoke(client, "warmup")
    _standby_ready(node_server)
    _create(client, "small", {"index.js": REPORT}, MemorySize=128)
    result, response = _invoke(client, "small", {"allocate": 400})
    assert response.get("FunctionError") == "Unhandled", result
    assert result["errorType"] == "Runtime.OutOfMemory"


def test_functions_a_standby_cannot_become_start_the_usual_way(node_server: RunningServer) -> None:
    client = node_server.client("lambda")
    _create(client, "warm", {"index.js": REPORT})
    _invoke(client, "warm")
    _standby_ready(node_server)
    created_after = time.time() * 1000
    _create(client, "bigger-tmp", {"index.js": REPORT}, EphemeralStorage={"Size": 1024})
    result, _ = _invoke(client, "bigger-tmp")
    assert result["startedAt"] > created_after  # a process of its own
    # NODE_OPTIONS is read when Node starts: such a function gets a process started with it.
    _create(
        client,
        "node-options",
        {
            "index.js": "exports.handler = async () => globalThis.PRELOADED;",
            "pre.js": "globalThis.PRELOADED = 'yes';",
        },
        Environment={"Variables": {"NODE_OPTIONS": "--require ./pre.js"}},
    )
    assert _invoke(client, "node-options")[0] == "yes"
    assert node_server.health()["nodeStandbys"] == 1  # the standby still waits


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of a live process; None when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else (int(fields[1]), fields[19])


def _standbys_of(server_pid: int) -> set[tuple[int, str]]:
    """(pid, start time) of the server's descendants that started as Node standbys."""
    parents: dict[int, int] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)], started[int(entry.name)] = stat
    found = set()
    for pid in parents:
        ancestor = parents[pid]
        while ancestor not in (0, 1, server_pid) and ancestor in parents:
            ancestor = parents[ancestor]
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if ancestor == server_pid and b"LAMINA_STANDBY=1" in environ:
            found.add((pid, started[pid]))
    return found


def _alive(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    return {(pid, start) for pid, start in processes if (stat := _stat(pid)) is not None and stat[1] == start}


@pytest.mark.parametrize("ending", [signal.SIGTERM, signal.SIGKILL])
def test_standbys_end_with_the_server(tmp_path: Path, ending: int) -> None:
    sandbox = os.environ.get("LAMINA_TEST_SANDBOX", "process")
    with running_server(tmp_path / "data", "--sandbox", sandbox) as server:
        client = server.client("lambda")
        _create(client, "one", {"index.js": REPORT})
        _invoke(client, "one")
        _standby_ready(server)
        standbys = _standbys_of(server.process.pid)
        assert standbys != set()  # the check below sees them while they run
        server.stop(ending)
    deadline = time.monotonic() + 10
    while _alive(standbys) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive(standbys) == set()
