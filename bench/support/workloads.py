"""Load runs as the engine benchmark uses them: who sends what, and what the server spent.

Each builder returns one `ClientScript` per client; `measured_load` runs them and adds the
server's CPU time per request (server process plus every live descendant: environments, fork
servers), read from /proc before and after.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bench.support import procfs
from bench.support.load import ClientMode, ClientScript, run_load

if TYPE_CHECKING:
    from tests.support.server import RunningServer

# Requests per client per load run at most: with the time bound, keeps every run finite.
MAX_REQUESTS_PER_CLIENT = 200_000
# Seconds a single request may take before the client counts it as a hang.
REQUEST_TIMEOUT_SECONDS = 30.0


def server_cpu_seconds(server: RunningServer) -> float:
    """CPU time of the server and every live process it started (environments, helpers)."""
    return procfs.cpu_seconds([server.process.pid, *procfs.descendants(server.process.pid)])


def measured_load(
    server: RunningServer,
    scripts: Sequence[ClientScript],
    *,
    duration: float,
    mode: ClientMode,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """A load run's summary plus the server's CPU time per completed request."""
    cpu_before = server_cpu_seconds(server)
    result = run_load(server.port, scripts, duration=duration, mode=mode, timeout=timeout)
    summary = result.summary()
    completed = result.succeeded + result.throttled + result.failed
    summary["server_cpu_us_per_request"] = (
        round((server_cpu_seconds(server) - cpu_before) * 1e6 / completed, 1) if completed else None
    )
    return summary


def same_request_scripts(request: bytes, clients: int, expect: bytes) -> list[ClientScript]:
    return [ClientScript((request,), MAX_REQUESTS_PER_CLIENT, expect) for _ in range(clients)]


def round_robin_scripts(requests: Sequence[bytes], clients: int, expect: bytes) -> list[ClientScript]:
    """Calls spread round-robin over every function: client i walks the functions i, i + clients,
    i + 2 * clients, ... in turn. The shares do not overlap, so with at least as many functions as
    clients no two calls to one function are ever in flight together: each function needs one
    environment, and a slower step means the engine slowed, not that new environments started."""
    count = len(requests)
    shares = [tuple(requests[index::clients]) or (requests[index % count],) for index in range(clients)]
    return [ClientScript(share, MAX_REQUESTS_PER_CLIENT, expect) for share in shares]


def one_each_scripts(requests: Sequence[bytes], clients: int, expect: bytes) -> list[ClientScript]:
    """Every request sent exactly once, dealt out to `clients` clients."""
    return [
        ClientScript(tuple(requests[index::clients]), len(requests[index::clients]), expect)
        for index in range(min(clients, len(requests)))
    ]
