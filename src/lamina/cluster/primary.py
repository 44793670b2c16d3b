"""What the primary answers its workers: credentials for their environments, their metrics, billing
and recorded invocations.

Each handler takes the JSON arguments a worker sent (`cluster/follower.py` makes them) and checks
what it uses: a worker is trusted (it holds the token), but a bug there must not become a crash here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lamina.cluster.control import Handler
from lamina.cluster.follower import billing_add_of, metric_write_of, recordings_of
from lamina.domain.iam.entities import record_of
from lamina.identity.sts import StsService
from lamina.store.ports import BillingStore, MetricStore, RecordingSink

StoresOf = Callable[[str, str], Awaitable[tuple[MetricStore, BillingStore, RecordingSink] | None]]


def primary_handlers(sts: StsService, stores_of: StoresOf) -> dict[str, Handler]:
    """`stores_of(account id, region)`: that account-region's metric, billing and recording stores
    (None when the account does not exist)."""

    async def credentials(args: dict[str, Any]) -> dict[str, Any] | None:
        made = await sts.environment_session(str(args["role"]), str(args["function"]))
        if made is None:
            return None
        session, secret = made
        return {"session": record_of(session), "secret": secret}

    async def revoke(args: dict[str, Any]) -> None:
        sts.revoke_environment_session(str(args["key"]))

    async def metrics(args: dict[str, Any]) -> None:
        stores = await stores_of(str(args["account"]), str(args["region"]))
        if stores is not None:
            await stores[0].write(*metric_write_of(list(args["series"])))

    async def billing(args: dict[str, Any]) -> None:
        stores = await stores_of(str(args["account"]), str(args["region"]))
        if stores is not None:
            await stores[1].add(billing_add_of(list(args["usage"])))

    async def recordings(args: dict[str, Any]) -> None:
        stores = await stores_of(str(args["account"]), str(args["region"]))
        if stores is not None:
            await stores[2].add(recordings_of(list(args["recorded"])))

    return {
        "credentials": credentials,
        "revoke": revoke,
        "metrics": metrics,
        "billing": billing,
        "recordings": recordings,
    }
