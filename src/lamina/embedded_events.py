"""Composition of the embedded EventBridge (part of the composition root, kept apart from
`server.py`): the resource store, the bus service with its target delivery, the schedule rules'
firing and the API facade."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.api.services.events.facade import build_events_facade
from lamina.api.services.service import ServiceFacade
from lamina.clock import Clock
from lamina.identity.authorizer import Authorizer
from lamina.sources.events.schedules import RuleSchedules
from lamina.sources.events.service import EventBusService
from lamina.sources.events.targets import TargetDelivery
from lamina.sources.queues.sender import QueueSender
from lamina.store.resource_ports import ResourceStore
from lamina.store_choice import StoreChoice
from lamina.triggers.service_invoker import InvokerOf

__all__ = ["EmbeddedEvents", "build_events"]

_log = logging.getLogger(__name__)
# Servers sharing a database re-read the rules this often to see the others' changes.
RELOAD_SECONDS = 2.0


@dataclass
class EmbeddedEvents:
    store: ResourceStore
    service: EventBusService
    schedules: RuleSchedules
    facade: ServiceFacade
    shared: bool  # on a database other servers use
    _reloader: asyncio.Task[None] | None = field(default=None, init=False)

    async def open(self) -> None:
        await self.store.open()
        await self.service.load()

    async def start(self) -> None:
        """After the functions can be invoked: fire times missed while stopped go out now."""
        await self.schedules.start()
        if self.shared:
            self._reloader = asyncio.get_running_loop().create_task(self._reload_forever())

    async def close(self) -> None:
        if self._reloader is not None:
            self._reloader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reloader
        await self.schedules.close()
        await self.store.close()

    async def _reload_forever(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_SECONDS)
            try:
                await self.service.load()
            except Exception:
                _log.exception("re-reading EventBridge rules failed")


def build_events(
    stores: StoreChoice,
    authorizer: Authorizer,
    clock: Clock,
    invoker_of: InvokerOf,
    queues: Callable[[], QueueSender | None],
    owner: str,
) -> EmbeddedEvents:
    store = stores.resources()
    service = EventBusService(store, clock, TargetDelivery(invoker_of, queues))
    return EmbeddedEvents(
        store,
        service,
        RuleSchedules(service, store, clock, owner),
        build_events_facade(service, authorizer),
        shared=stores.database is not None,
    )
