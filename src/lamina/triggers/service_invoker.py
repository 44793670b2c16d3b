"""The one door every trigger invokes a function through: as its AWS service principal (such as
`logs.amazonaws.com`), allowed only when the function's resource policy has a statement for that
service whose SourceArn / SourceAccount conditions hold for this source, as AddPermission writes
them (Lambda developer guide, "Granting function access to AWS services").

Service principals have no identity policies: the resource policy alone decides, so a function
without such a statement is never run by a trigger.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from lamina.domain.arns import parse_function_ref
from lamina.domain.iam.evaluation import Decision
from lamina.domain.iam.principals import Principal, service_principal
from lamina.domain.ids import new_request_id
from lamina.domain.lifecycle import check_invocable
from lamina.domain.recursion import is_recursive_loop, trace_for_invocation
from lamina.errors import AwsError
from lamina.execution.async_delivery import AsyncDelivery
from lamina.execution.invocation import InvocationInput, InvocationResult, InvocationService
from lamina.functions.manager import FunctionManager
from lamina.functions.permissions import PermissionService
from lamina.functions.recursion import RecursionConfigService
from lamina.identity.authorizer import Authorizer

_log = logging.getLogger(__name__)
INVOKE = "lambda:InvokeFunction"


def function_location(arn: str) -> tuple[str, str] | None:
    """(account, region) of a function ARN; None when it is not one."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "lambda" or parts[5] != "function":
        return None
    return parts[4], parts[3]


class ServiceInvoker:
    def __init__(
        self,
        manager: FunctionManager,
        permissions: PermissionService,
        delivery: AsyncDelivery,
        authorizer: Authorizer,
        recursion: RecursionConfigService | None = None,
        invocations: InvocationService | None = None,
    ) -> None:
        """`recursion`: the functions' RecursiveLoop settings (None: never stopped as a loop);
        `invocations`: for services that wait for a function's result (SES's RequestResponse)."""
        self._recursion = recursion
        self._invocations = invocations
        self._manager = manager
        self._permissions = permissions
        self._delivery = delivery
        self._authorizer = authorizer
        self._placement = manager.placement

    async def allowed(self, service: str, function: str, source_arn: str, source_account: str) -> bool:
        """Whether `service`, acting for `source_arn`, may invoke `function` (a name or ARN, with or
        without qualifier) now. False also when the function does not exist."""
        placement = self._placement
        try:
            ref = parse_function_ref(function, region=placement.region, account_id=placement.account_id)
            self._manager.get(ref.name, ref.qualifier)
        except AwsError:
            return False
        policy = await self._permissions.enforced_policy(ref.name, ref.qualifier)
        decision = self._authorizer.decide(
            service_principal(service),
            INVOKE,
            placement.arn(ref.name, ref.qualifier),
            placement.account_id,
            resource_policy=policy,
            context={"aws:SourceArn": source_arn, "aws:SourceAccount": source_account},
        )
        return decision is Decision.ALLOW

    async def invoke_sync(
        self, service: str, function: str, payload: bytes, source_arn: str, source_account: str
    ) -> InvocationResult | None:
        """Run the function now and return its result, when `service` may invoke it for
        `source_arn`; None when not allowed, gone, throttled or not runnable."""
        if self._invocations is None or not await self.allowed(service, function, source_arn, source_account):
            return None
        try:
            return await self.run_allowed(function, payload)
        except AwsError as error:
            _log.warning("%s could not run %s for %s: %s", service, function, source_arn, error.message)
            return None

    async def run_allowed(self, function: str, payload: bytes) -> InvocationResult:
        """Run the function now, once `allowed` said the service may (API Gateway tells a refusal
        from a failure, so it asks first); raises AwsError when it is gone, throttled or not
        runnable."""
        if self._invocations is None:
            raise AwsError("ServiceException", "This server does not run functions synchronously", 500)
        placement = self._placement
        ref = parse_function_ref(function, region=placement.region, account_id=placement.account_id)
        config = self._manager.get(ref.name, ref.qualifier, route=True)
        check_invocable(config)
        return await self._invocations.invoke(
            InvocationInput(config, placement.arn(ref.name, ref.qualifier), payload), new_request_id()
        )

    async def invoke_event_as(self, principal: Principal, function: str, payload: bytes) -> str | None:
        """Queue an asynchronous invocation by `principal` (a role session a service holds, such
        as Scheduler's execution role), allowed as that principal's own Invoke call would be: its
        policies, and the function's resource policy. None when not allowed or no such function."""
        placement = self._placement
        try:
            ref = parse_function_ref(function, region=placement.region, account_id=placement.account_id)
            self._manager.get(ref.name, ref.qualifier)
        except AwsError:
            return None
        policy = await self._permissions.enforced_policy(ref.name, ref.qualifier)
        decision = self._authorizer.decide(
            principal,
            INVOKE,
            placement.arn(ref.name, ref.qualifier),
            placement.account_id,
            resource_policy=policy,
        )
        if decision is not Decision.ALLOW:
            _log.warning("%s may not invoke %s", principal.arn, function)
            return None
        return await self._delivery.accept(ref.name, ref.qualifier, payload)

    async def invoke_event(
        self,
        service: str,
        function: str,
        payload: bytes,
        source_arn: str,
        source_account: str,
        *,
        trace_header: str | None = None,
    ) -> str | None:
        """Queue an asynchronous invocation (durably, with the function's retries and destinations)
        when allowed; returns its request id, or None when the policy does not let `service` in.

        `trace_header`: the X-Amzn-Trace-Id of the request that caused the event (an object a
        function wrote, say): the invocation continues its chain, so a loop through the service
        (a function writing into the bucket that triggers it) is stopped like a direct one, its
        event going to the failure destination instead of running."""
        if not await self.allowed(service, function, source_arn, source_account):
            _log.warning(
                "%s may not invoke %s for %s: no resource policy statement allows it",
                service,
                function,
                source_arn,
            )
            return None
        placement = self._placement
        ref = parse_function_ref(function, region=placement.region, account_id=placement.account_id)
        trace_id, depth = trace_for_invocation(trace_header)
        if self._recursion is not None and is_recursive_loop(depth, self._recursion.loop(ref.name)):
            _log.warning("%s: stopped a recursive loop through %s (%s)", function, service, source_arn)
            return await self._delivery.reject_recursive(ref.name, ref.qualifier, payload)
        return await self._delivery.accept(ref.name, ref.qualifier, payload, trace_id=trace_id)


# The invoker of an account's functions in a region (None when that account-region does not exist).
InvokerOf = Callable[[str, str], Awaitable[ServiceInvoker | None]]
