"""Attack 4 of issue 12: two servers on one host leased uids from the same default range, so a
function of one shared a uid with an environment of the other and read its memory and credentials.
Now each server holds its range alone: an overlapping range is refused, naming the server holding it;
servers given no range take disjoint blocks; health shows each one's range."""

from __future__ import annotations

import pytest

from tests.security.conftest import TIERS, create_function, invoke, server_in_tier
from tests.support.server import RunningServer

WHOAMI = """
import os

def handler(event, context):
    try:  # the claims name their servers' data directories
        claims = os.listdir("/run/lamina/uid-ranges")
    except OSError as error:
        claims = type(error).__name__
    return {"uid": os.getuid(), "claims": claims}
"""

# Far above the default blocks (100000 up, 65,536 each), so that other servers on the host never hold them.
FIRST = {"process": 3_100_000, "namespaces": 3_200_000}


def _uid_of_a_function(server: RunningServer) -> int:
    name = create_function(server, {"app.py": WHOAMI}, "app.handler")
    response, result = invoke(server, name)
    assert "FunctionError" not in response, result
    assert result["claims"] in ("PermissionError", "FileNotFoundError"), result
    return int(result["uid"])


@pytest.mark.parametrize("tier", TIERS)
def test_an_overlapping_range_is_refused_and_a_disjoint_one_runs(tier: str) -> None:
    first = FIRST[tier]
    held = f"{first}-{first + 999}"
    with server_in_tier(tier, "--sandbox-uids", held) as holder:
        assert holder.health()["uidRange"] == held
        overlapping = server_in_tier(tier, "--sandbox-uids", f"{first + 500}-{first + 1499}")
        with pytest.raises(RuntimeError, match="exited early") as refused, overlapping:
            pass
        message = str(refused.value)
        assert f"overlap {held}" in message, message
        assert str(holder.data_dir) in message and "--sandbox-uids" in message, message
        assert "Traceback" not in message, message

        with server_in_tier(tier, "--sandbox-uids", f"{first + 1000}-{first + 1999}") as neighbour:
            assert neighbour.health()["uidRange"] == f"{first + 1000}-{first + 1999}"
            assert first <= _uid_of_a_function(holder) <= first + 999
            assert first + 1000 <= _uid_of_a_function(neighbour) <= first + 1999


def test_servers_given_no_range_take_disjoint_ones() -> None:
    with server_in_tier("process") as one, server_in_tier("process") as other:
        ranges = []
        for server in (one, other):
            low, high = map(int, server.health()["uidRange"].split("-"))
            ranges.append((low, high))
            assert low <= _uid_of_a_function(server) <= high
        (low_one, high_one), (low_other, high_other) = ranges
        assert high_one < low_other or high_other < low_one, ranges
