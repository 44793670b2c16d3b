"""The change feed: a request that wrote is answered only once workers applied its change, even when
another caller (the periodic settle, another request) took its mark and is still publishing it."""

from __future__ import annotations

import asyncio

from lamina.cluster.change_feed import ChangeFeed, lambda_scope


def test_a_settle_waits_for_a_publication_already_carrying_its_mark() -> None:
    async def scenario() -> list[str]:
        published = asyncio.Event()
        release = asyncio.Event()
        order: list[str] = []

        async def publish(scopes: list[tuple[str, ...]]) -> None:
            order.append(f"publishing {scopes}")
            published.set()
            await release.wait()
            order.append("applied")

        feed = ChangeFeed(publish)
        feed.mark(lambda_scope("000000000000", "us-east-1"))
        periodic = asyncio.ensure_future(feed.settle())  # takes the mark
        await published.wait()
        assert feed.pending  # marked, not yet applied
        request = asyncio.ensure_future(feed.settle())  # the request that wrote
        await asyncio.sleep(0.05)
        order.append("request answered" if request.done() else "request waiting")
        release.set()
        await asyncio.gather(periodic, request)
        order.append("request answered")
        assert not feed.pending
        return order

    assert asyncio.run(scenario()) == [
        "publishing [('lambda', '000000000000', 'us-east-1')]",
        "request waiting",
        "applied",
        "request answered",
    ]
