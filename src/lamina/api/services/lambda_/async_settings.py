"""Handlers for how asynchronous invocation behaves: event invoke configs (retries, maximum age,
destinations) and recursive loop detection."""

from __future__ import annotations

from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services.lambda_.params import function_ref, page_of, unqualified_name
from lamina.domain.async_events import EventInvokeConfig
from lamina.functions.event_invoke_configs import EventInvokeConfigService
from lamina.functions.manager import Placement
from lamina.functions.recursion import RecursionConfigService


class AsyncSettingsOperations:
    def __init__(
        self, configs: EventInvokeConfigService, recursion: RecursionConfigService, placement: Placement
    ) -> None:
        self._configs = configs
        self._recursion = recursion
        self._placement = placement

    def _output(self, config: EventInvokeConfig) -> dict[str, Any]:
        return config.to_api(self._configs.arn(config))

    async def put_function_event_invoke_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        config = await self._configs.put(*function_ref(params, self._placement), params, merge=False)
        return OperationResult(self._output(config))

    async def update_function_event_invoke_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        config = await self._configs.put(*function_ref(params, self._placement), params, merge=True)
        return OperationResult(self._output(config))

    async def get_function_event_invoke_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        return OperationResult(self._output(self._configs.get(*function_ref(params, self._placement))))

    async def delete_function_event_invoke_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        await self._configs.delete(*function_ref(params, self._placement))
        return OperationResult({})

    async def list_function_event_invoke_configs(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        name = unqualified_name(params, self._placement)
        page, output = page_of(self._configs.list(name), params)
        return OperationResult({"FunctionEventInvokeConfigs": [self._output(c) for c in page], **output})

    async def put_function_recursion_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        name = unqualified_name(params, self._placement)
        return OperationResult({"RecursiveLoop": await self._recursion.put(name, params["RecursiveLoop"])})

    async def get_function_recursion_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        return OperationResult(
            {"RecursiveLoop": self._recursion.get(unqualified_name(params, self._placement))}
        )
