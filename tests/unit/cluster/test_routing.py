"""Which process answers a request under --workers (cluster/routing.py)."""

from __future__ import annotations

from pathlib import Path

from lamina.cluster.routing import PRIMARY, InvocationRouter
from lamina.transport.messages import LeanRequest, LeanResponse


async def _app(request: LeanRequest) -> LeanResponse:
    return LeanResponse(200)


class _View:
    def function_for(self, *args: object) -> None:
        return None

    def warm_elsewhere(self, *args: object) -> None:
        return None


def _router(index: int) -> InvocationRouter:
    return InvocationRouter(
        _app,
        lambda key: None,
        _View(),
        index=index,
        inbox_of=lambda i: Path(f"/nowhere/{i}"),
        token=b"t" * 32,
    )


def test_a_worker_sends_the_control_plane_to_the_primary_and_answers_pings_itself() -> None:
    worker = _router(1)
    assert worker.target(LeanRequest("GET", "/2015-03-31/functions/")) == PRIMARY
    assert worker.target(LeanRequest("GET", "/_lamina/ping")) == 1
    assert _router(PRIMARY).target(LeanRequest("GET", "/2015-03-31/functions/")) == PRIMARY


def test_a_body_past_the_limit_is_refused_where_it_arrived() -> None:
    """Re-encoded for another process, the dropped body would travel as an empty one (and run)."""
    oversized = LeanRequest(
        "POST",
        "/2015-03-31/functions/f/invocations",
        headers={"x-amz-invocation-type": "Event"},
        body_too_large=True,
    )
    assert _router(1).target(oversized) == 1
