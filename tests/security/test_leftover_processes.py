"""Attack 9 of issue 12, its process-count part: each environment may leave up to 1,023 idle children
after an invocation returns (AWS keeps an environment's background processes between invocations, so
Lamina does too), and nothing capped their sum: enough environments would take every pid of the host.
Now all environments together stay within a pids budget (`--pids-budget`, the server's pids cgroup);
past it a fork fails inside the function, the server and other functions carry on; an environment that
cannot start because the budget is used up fails as a function error (Runtime.ExitError), never a 500.

Children a handler double-forks are orphans once their parent exits: in the namespaces tier they went
to the runtime, PID 1 of its namespace, which never reaped them; each stayed a zombie holding a pid
until the environment ended. Now PID 1 is a tiny init that reaps them (the runtime is PID 2, as on
Lambda); in the process tier the fork server, a child subreaper, does."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.security.conftest import (
    TIERS,
    assert_still_serving,
    create_custom_runtime,
    create_function,
    invoke,
    server_in_tier,
)
from tests.support.server import RunningServer

BUDGET = 300

LEAVER = r"""
import subprocess

def handler(event, context):
    children, failure = [], None
    try:
        for _ in range(event["count"]):
            children.append(subprocess.Popen(["sleep", "600"]))
    except OSError as error:
        failure = type(error).__name__
        for child in children:  # this one gives back what it got; the first one keeps its children
            child.kill()
            child.wait()
    return {"started": len(children), "failure": failure}
"""

HOG = r"""
import subprocess

def handler(event, context):
    children = []
    try:
        while True:
            children.append(subprocess.Popen(["sleep", "600"]))
    except OSError as error:  # the budget is used up: keep every child, as a careless function would
        return {"started": len(children), "failure": type(error).__name__}
"""

ORPHANER = r"""
import os


def _my_zombies():
    uid, found = os.getuid(), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        if fields["State"].split()[0] == "Z" and int(fields["Uid"].split()[0]) == uid:
            found += 1
    return found


def handler(event, context):
    for _ in range(event.get("orphans", 0)):
        child = os.fork()
        if child == 0:
            if os.fork() == 0:
                os._exit(0)  # the grandchild ends at once: an orphan, its parent being gone
            os._exit(0)
        os.waitpid(child, 0)  # the handler waits for its own child, as it should
    return {"zombies": _my_zombies(), "pid": os.getpid(), "parent": os.getppid()}
"""

# A custom runtime that forks nothing: it answers its one event through the Runtime API.
BOOTSTRAP = """#!/usr/bin/env python3
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as event:
        request_id = event.headers["Lambda-Runtime-Aws-Request-Id"]
    answer = urllib.request.Request(api + request_id + "/response", b'{"ran": true}', method="POST")
    urllib.request.urlopen(answer).close()
"""


def test_orphans_of_a_handler_are_reaped_between_invocations(tier_server: RunningServer) -> None:
    name = create_function(tier_server, {"app.py": ORPHANER}, "app.handler")
    response, result = invoke(tier_server, name, {"orphans": 30})
    assert "FunctionError" not in response, result
    deadline = time.monotonic() + 10
    while result["zombies"] and time.monotonic() < deadline:
        time.sleep(0.1)
        response, result = invoke(tier_server, name)
    assert result["zombies"] == 0, result  # 30 before: none reaped them
    if tier_server.health()["sandbox"] == "namespaces":
        assert (result["pid"], result["parent"]) == (2, 1), result  # the runtime, below the init


@pytest.fixture(scope="module", params=TIERS)
def budgeted(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    uids = "3400000-3400999" if request.param == "process" else "3401000-3401999"
    with server_in_tier(request.param, "--pids-budget", str(BUDGET), "--sandbox-uids", uids) as server:
        if server.health()["pidsBudget"] is None:
            pytest.skip("this host gives the server no pids cgroup")
        yield server


def test_children_left_by_environments_stay_within_the_host_wide_budget(budgeted: RunningServer) -> None:
    assert budgeted.health()["pidsBudget"] == BUDGET
    first = create_function(budgeted, {"app.py": LEAVER}, "app.handler", MemorySize=512)
    response, kept = invoke(budgeted, first, {"count": 150})
    assert "FunctionError" not in response, kept
    assert kept == {"started": 150, "failure": None}  # within its own cap (1,024): all of them stay

    second = create_function(budgeted, {"app.py": LEAVER}, "app.handler", MemorySize=512)
    response, refused = invoke(budgeted, second, {"count": 250})
    assert "FunctionError" not in response, refused
    # 150 children of the first environment, the runtimes, their threads: 250 more cannot fit.
    assert refused["started"] < 250 and refused["failure"] is not None, refused
    # (pidsInUse may pass the budget for a moment: the kernel lets a fork server's standby child move
    # into a full cgroup; only forks are refused.)
    assert isinstance(budgeted.health()["pidsInUse"], int)
    assert_still_serving(budgeted)


def test_a_start_refused_for_want_of_processes_is_a_function_error(
    budgeted: RunningServer, request: pytest.FixtureRequest
) -> None:
    """The namespaces tier forks the environment's PID 1 inside its cgroups: under a used-up budget
    that fork fails (EAGAIN), and the invocation gets Runtime.ExitError saying so, not a 500
    ServiceException. The process tier execs the runtime without a fork, so there it may still run."""
    hog = create_function(budgeted, {"app.py": HOG}, "app.handler", MemorySize=512)
    response, hogged = invoke(budgeted, hog)
    assert "FunctionError" not in response and hogged["failure"] is not None, hogged

    client = budgeted.client("lambda")
    name = create_custom_runtime(budgeted, BOOTSTRAP)
    for _ in range(2):  # the next call after a refused start tries a fresh one, refused as well
        response = client.invoke(FunctionName=name, Payload=b"{}")  # a 500 would raise here
        result: dict[str, Any] = json.loads(response["Payload"].read())
        assert response["StatusCode"] == 200
        if request.node.callspec.params["budgeted"] == "namespaces" or "FunctionError" in response:
            assert response.get("FunctionError") == "Unhandled", result
            assert result["errorType"] == "Runtime.ExitError", result
            assert "process budget" in result["errorMessage"], result
        else:
            assert result == {"ran": True}
