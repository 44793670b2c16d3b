"""Composition of the embedded EventBridge and EventBridge Scheduler (part of the composition root,
kept apart from `server.py`): the resource store, the bus service and the scheduler service with
their target deliveries, the one firing engine of rules and schedules, and the API facades."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from lamina.api.services.events.facade import build_events_facade
from lamina.api.services.scheduler.facade import build_scheduler_facade
from lamina.api.services.service import ServiceFacade
from lamina.clock import Clock
from lamina.identity.authorizer import Authorizer
from lamina.identity.sts import StsService
from lamina.sources.events.schedule_rules import ScheduleRules
from lamina.sources.events.service import EventBusService
from lamina.sources.events.targets import TargetDelivery
from lamina.sources.queues.sender import QueueSender
from lamina.sources.schedules.firing import ScheduleFiring
from lamina.sources.schedules.service import SchedulerService
from lamina.sources.schedules.targets import ScheduleDelivery
from lamina.sources.topics.publisher import TopicPublisher
from lamina.store.resource_ports import ResourceStore
from lamina.store_choice import StoreChoice
from lamina.triggers.service_invoker import InvokerOf, function_location

__all__ = ["EmbeddedEvents", "build_events"]

_log = logging.getLogger(__name__)
# Servers sharing a database re-read the rules this often to see the others' changes.
RELOAD_SECONDS = 2.0
SCHEDULER_PRINCIPAL = "scheduler.amazonaws.com"
# The session name of a schedule's execution role while Scheduler holds it.
_SCHEDULER_SESSION = "scheduler"


@dataclass
class EmbeddedEvents:
    store: ResourceStore
    service: EventBusService
    scheduler: SchedulerService
    schedules: ScheduleFiring
    facade: ServiceFacade
    scheduler_facade: ServiceFacade
    shared: bool  # on a database other servers use
    _reloader: asyncio.Task[None] | None = field(default=None, init=False)
    _also: list[Callable[[], Awaitable[None]]] = field(default_factory=list, init=False)

    def also_reload(self, load: Callable[[], Awaitable[None]]) -> None:
        """Another service's index over the same store (SNS's topics): re-read with the rules."""
        self._also.append(load)

    async def open(self) -> None:
        await self.store.open()
        await self.service.load()
        await self.scheduler.load()

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
                await self.scheduler.load()
                for load in self._also:
                    await load()
            except Exception:
                _log.exception("re-reading EventBridge rules and schedules failed")


def build_events(
    stores: StoreChoice,
    authorizer: Authorizer,
    sts: StsService,
    clock: Clock,
    invoker_of: InvokerOf,
    queues: Callable[[], QueueSender | None],
    owner: str,
    topics: Callable[[], TopicPublisher | None] = lambda: None,
) -> EmbeddedEvents:
    store = stores.resources()
    service = EventBusService(store, clock, TargetDelivery(invoker_of, queues, topics))

    async def invoke_as_role(role: str, function_arn: str, payload: bytes) -> bool:
        location = function_location(function_arn)
        principal = sts.service_role_session(role, SCHEDULER_PRINCIPAL, _SCHEDULER_SESSION)
        invoker = await invoker_of(*location) if location is not None else None
        if principal is None or invoker is None:
            return False
        return await invoker.invoke_event_as(principal, function_arn, payload) is not None

    async def send_as_role(role: str, target_arn: str, payload: bytes) -> bool:
        if sts.service_role_session(role, SCHEDULER_PRINCIPAL, _SCHEDULER_SESSION) is None:
            return False
        if target_arn.startswith("arn:aws:sns:"):
            publisher = topics()
            return publisher is not None and await publisher.publish_for_function(
                role, _SCHEDULER_SESSION, target_arn, payload
            )
        sender = queues()
        return sender is not None and await sender.send_for_function(
            role, _SCHEDULER_SESSION, target_arn, payload
        )

    scheduler = SchedulerService(store, clock, ScheduleDelivery(invoke_as_role, send_as_role))
    firing = ScheduleFiring([ScheduleRules(service), scheduler], store, clock, owner)
    service.on_rules_changed(firing.changed)
    scheduler.on_changed(firing.changed)
    return EmbeddedEvents(
        store,
        service,
        scheduler,
        firing,
        build_events_facade(service, authorizer),
        build_scheduler_facade(scheduler, authorizer),
        shared=stores.database is not None,
    )
