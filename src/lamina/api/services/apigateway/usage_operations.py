"""API Gateway (v1) API keys and usage plans: decoded params in, the usage plan service called, the
wire output back."""

from __future__ import annotations

from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services.apigateway.rest_operations import paged
from lamina.apigateway.usage_plans import UsagePlanService

__all__ = ["USAGE_OPERATIONS", "UsagePlanOperations"]

USAGE_OPERATIONS = (
    "CreateApiKey",
    "GetApiKey",
    "GetApiKeys",
    "UpdateApiKey",
    "DeleteApiKey",
    "CreateUsagePlan",
    "GetUsagePlan",
    "GetUsagePlans",
    "UpdateUsagePlan",
    "DeleteUsagePlan",
    "CreateUsagePlanKey",
    "GetUsagePlanKey",
    "GetUsagePlanKeys",
    "DeleteUsagePlanKey",
)


def _place(context: RequestContext) -> tuple[str, str]:
    return context.principal.account, context.region


def _public(plan: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in plan.items() if name != "apiKeyIds"}


class UsagePlanOperations:
    def __init__(self, service: UsagePlanService) -> None:
        self._service = service

    # API keys ------------------------------------------------------------------------------------
    async def create_api_key(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(await self._service.create_key(*_place(context), params))

    async def get_api_key(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        key = self._service.key(*_place(context), params["apiKey"])
        return OperationResult(
            key if params.get("includeValue") else {k: v for k, v in key.items() if k != "value"}
        )

    async def get_api_keys(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        keys = self._service.keys(
            *_place(context), bool(params.get("includeValues")), params.get("nameQuery")
        )
        if params.get("customerId"):
            keys = [key for key in keys if key.get("customerId") == params["customerId"]]
        return OperationResult(paged(keys, params))

    async def update_api_key(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        key = await self._service.update_key(
            *_place(context), params["apiKey"], params.get("patchOperations") or []
        )
        return OperationResult({k: v for k, v in key.items() if k != "value"})

    async def delete_api_key(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_key(*_place(context), params["apiKey"])
        return OperationResult({})

    # usage plans ---------------------------------------------------------------------------------
    async def create_usage_plan(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(_public(await self._service.create_plan(*_place(context), params)))

    async def get_usage_plan(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(_public(self._service.plan(*_place(context), params["usagePlanId"])))

    async def get_usage_plans(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        plans = self._service.plans(*_place(context), params.get("keyId"))
        return OperationResult(paged([_public(plan) for plan in plans], params))

    async def update_usage_plan(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        patches = params.get("patchOperations") or []
        return OperationResult(
            _public(await self._service.update_plan(*_place(context), params["usagePlanId"], patches))
        )

    async def delete_usage_plan(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_plan(*_place(context), params["usagePlanId"])
        return OperationResult({})

    async def create_usage_plan_key(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        key = await self._service.add_plan_key(
            *_place(context), params["usagePlanId"], params["keyId"], params["keyType"]
        )
        return OperationResult(key)

    async def get_usage_plan_key(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(
            self._service.plan_key(*_place(context), params["usagePlanId"], params["keyId"])
        )

    async def get_usage_plan_keys(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        keys = self._service.plan_keys(*_place(context), params["usagePlanId"])
        if params.get("nameQuery"):
            keys = [key for key in keys if key["name"].startswith(params["nameQuery"])]
        return OperationResult(paged(keys, params))

    async def delete_usage_plan_key(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.remove_plan_key(*_place(context), params["usagePlanId"], params["keyId"])
        return OperationResult({})
