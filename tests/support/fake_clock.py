"""The clock of a server started with `--fake-clock`: read it, move it (`/_lamina/clock`)."""

from __future__ import annotations

import json
import urllib.request

from tests.support.server import RunningServer


def server_now(server: RunningServer) -> float:
    with urllib.request.urlopen(f"{server.endpoint}/_lamina/clock", timeout=5) as response:
        return float(json.loads(response.read())["now"])


def advance(server: RunningServer, seconds: float) -> float:
    """Move the server's clock forward; returns its new time (epoch seconds)."""
    request = urllib.request.Request(
        f"{server.endpoint}/_lamina/clock",
        data=json.dumps({"advanceSeconds": seconds}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return float(json.loads(response.read())["now"])
