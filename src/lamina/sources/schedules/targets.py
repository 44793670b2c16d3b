"""Hands a schedule's execution to its target, as EventBridge Scheduler does (Scheduler user
guide, "Targets"): with the schedule's execution role, which must trust `scheduler.amazonaws.com`
and be allowed the target's action: `lambda:InvokeFunction` (an asynchronous invocation through
the durable path, with the function's own retries and destinations), `sqs:SendMessage` or
`sns:Publish`. An
execution the target does not take goes to the schedule's dead-letter queue when it has one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from lamina.domain.queues.attributes import parse_queue_arn
from lamina.domain.topics.records import parse_topic_arn
from lamina.sources.schedules.service import ScheduleInvocation
from lamina.triggers.service_invoker import function_location

__all__ = ["ScheduleDelivery"]

_log = logging.getLogger(__name__)
# (execution role ARN, target ARN, payload) -> whether the target took it; `send` takes queues and topics
AsRole = Callable[[str, str, bytes], Awaitable[bool]]


class ScheduleDelivery:
    def __init__(self, invoke_as_role: AsRole, send_as_role: AsRole) -> None:
        self._invoke = invoke_as_role
        self._send = send_as_role

    async def __call__(self, invocation: ScheduleInvocation) -> bool:
        target = invocation.schedule.target
        role, arn = str(target["RoleArn"]), str(target["Arn"])
        if function_location(arn) is not None:
            delivered = await self._invoke(role, arn, invocation.payload)
        elif parse_queue_arn(arn) is not None or parse_topic_arn(arn) is not None:
            delivered = await self._send(role, arn, invocation.payload)
        else:
            _log.warning(
                "schedule %s: target %s is of a kind Lamina does not deliver to yet",
                invocation.schedule.arn,
                arn,
            )
            delivered = False
        if not delivered:
            _log.warning(
                "schedule %s: target %s did not take execution %s",
                invocation.schedule.arn,
                arn,
                invocation.execution_id,
            )
            dead_letters = (target.get("DeadLetterConfig") or {}).get("Arn")
            if dead_letters:
                await self._send(role, str(dead_letters), invocation.payload)
        return delivered
