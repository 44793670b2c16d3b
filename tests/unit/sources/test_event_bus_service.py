"""The EventBridge service's own rules: quotas, and PutRule as an upsert that keeps targets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lamina.clock import ManualClock
from lamina.errors import AwsError
from lamina.sources.events.service import Delivery, EventBusService
from lamina.store.sqlite.resources import SqliteResourceStore

ACCOUNT, REGION = "111111111111", "us-east-1"


async def _nowhere(delivery: Delivery) -> bool:
    return True


async def _rule(service: EventBusService, name: str, pattern: str = '{"source": ["x"]}') -> None:
    await service.put_rule(
        ACCOUNT,
        REGION,
        "default",
        name,
        schedule_expression=None,
        event_pattern=pattern,
        state=None,
        description=None,
        role_arn=None,
    )


def test_a_bus_holds_at_most_300_rules_and_put_rule_keeps_targets(tmp_path: Path) -> None:
    async def body() -> None:
        store = SqliteResourceStore(tmp_path / "r.db")
        await store.open()
        service = EventBusService(store, ManualClock(0), _nowhere)
        for number in range(300):
            await _rule(service, f"r{number}")
        with pytest.raises(AwsError) as refused:
            await _rule(service, "one-more")
        assert refused.value.code == "LimitExceededException"
        await service.put_targets(
            ACCOUNT, REGION, "default", "r0", [{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:1:q"}]
        )
        await _rule(service, "r0", '{"source": ["y"]}')  # a replacement, not a new rule
        replaced = service.rule(ACCOUNT, REGION, "default", "r0")
        assert replaced.event_pattern == '{"source": ["y"]}' and [t.id for t in replaced.targets] == ["t"]
        await store.close()

    asyncio.run(body())
