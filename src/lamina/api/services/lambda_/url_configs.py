"""Handlers for Create/Get/Update/Delete/ListFunctionUrlConfigs."""

from __future__ import annotations

from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services.lambda_.params import function_ref, page_of, unqualified_name
from lamina.domain.function_urls import FunctionUrlConfig
from lamina.functions.function_urls import FunctionUrlService
from lamina.functions.manager import Placement

# CreateFunctionUrlConfig and UpdateFunctionUrlConfig answer without LastModifiedTime.
_CREATE_OUTPUT = ("FunctionUrl", "FunctionArn", "AuthType", "Cors", "CreationTime", "InvokeMode")


class UrlConfigOperations:
    def __init__(self, urls: FunctionUrlService, placement: Placement) -> None:
        self._urls = urls
        self._placement = placement

    def _output(self, config: FunctionUrlConfig) -> dict[str, Any]:
        return config.to_api(self._urls.url_for(config.url_id), self._urls.arn(config))

    async def create_function_url_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        config = await self._urls.create(*function_ref(params, self._placement), params)
        output = self._output(config)
        return OperationResult({key: output[key] for key in _CREATE_OUTPUT if key in output})

    async def get_function_url_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        return OperationResult(self._output(self._urls.get(*function_ref(params, self._placement))))

    async def update_function_url_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        return OperationResult(
            self._output(await self._urls.update(*function_ref(params, self._placement), params))
        )

    async def delete_function_url_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        await self._urls.delete(*function_ref(params, self._placement))
        return OperationResult({})

    async def list_function_url_configs(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        page, output = page_of(self._urls.list(unqualified_name(params, self._placement)), params)
        return OperationResult({"FunctionUrlConfigs": [self._output(config) for config in page], **output})
