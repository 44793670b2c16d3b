"""Attack 9 of issue 12, its process-count part: each environment may leave up to 1,023 idle children
after an invocation returns (AWS keeps an environment's background processes between invocations, so
Lamina does too), and nothing capped their sum: enough environments would take every pid of the host.
Now all environments together stay within a pids budget (`--pids-budget`, the server's pids cgroup);
past it a fork fails inside the function, the server and other functions carry on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.conftest import TIERS, assert_still_serving, create_function, invoke, server_in_tier
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
