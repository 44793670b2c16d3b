"""Lambda operations → handlers. Each handler is thin: parameters in, service call, output out."""

from __future__ import annotations

import base64
from typing import Any

from lamina.api.code_urls import CodeUrlSigner
from lamina.api.context import OperationResult, RequestContext
from lamina.api.services.lambda_.invoke import InvokeHandler
from lamina.api.services.service import OperationHandler, ServiceFacade
from lamina.domain.arns import parse_function_ref, resolve_qualifier
from lamina.domain.code import MAX_UNZIPPED_BYTES
from lamina.domain.functions import FunctionConfig
from lamina.errors import invalid_parameter
from lamina.execution.invocation import InvocationService
from lamina.functions.manager import FunctionManager
from lamina.protocol.http import WireProtocol

_DEFAULT_PAGE_SIZE = 50
# Lambda quotas (GetAccountSettings on a fresh AWS account).
_TOTAL_CODE_SIZE = 80_530_636_800
_ZIPPED_CODE_SIZE = 52_428_800


class LambdaOperations:
    def __init__(self, manager: FunctionManager, code_urls: CodeUrlSigner, account_concurrency: int) -> None:
        self._manager = manager
        self._code_urls = code_urls
        self._account_concurrency = account_concurrency
        self._placement = manager.placement

    def _ref(self, params: dict[str, Any]) -> tuple[str, str | None]:
        ref = parse_function_ref(
            params["FunctionName"], region=self._placement.region, account_id=self._placement.account_id
        )
        return ref.name, resolve_qualifier(ref, params.get("Qualifier"))

    def _unqualified(self, params: dict[str, Any]) -> dict[str, Any]:
        """Operations on $LATEST only: the name may be an ARN but must not carry a qualifier."""
        name, qualifier = self._ref(params)
        if qualifier is not None:
            raise invalid_parameter("Qualifier is not supported for this operation.")
        return {**params, "FunctionName": name}

    def _config(self, config: FunctionConfig) -> dict[str, Any]:
        return config.to_api(self._placement.region, self._placement.account_id)

    async def create_function(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name, qualifier = self._ref(params)
        if qualifier is not None:
            raise invalid_parameter("A function name with a qualifier can't be used to create a function.")
        config = await self._manager.create({**params, "FunctionName": name})
        return OperationResult(self._config(config))

    async def get_function(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        config = self._manager.get(*self._ref(params))
        code = {
            "RepositoryType": "S3",
            "Location": self._code_urls.url(context.base_url, config.code.sha256_hex),
        }
        return OperationResult({"Configuration": self._config(config), "Code": code})

    async def get_function_configuration(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        return OperationResult(self._config(self._manager.get(*self._ref(params))))

    async def list_functions(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        include_versions = params.get("FunctionVersion") == "ALL"
        configs = self._manager.list(include_versions=include_versions)
        start = _decode_marker(params.get("Marker"), len(configs))
        size = params.get("MaxItems") or _DEFAULT_PAGE_SIZE
        page = configs[start : start + size]
        output: dict[str, Any] = {"Functions": [self._config(config) for config in page]}
        if start + size < len(configs):
            output["NextMarker"] = _encode_marker(start + size)
        return OperationResult(output)

    async def update_function_code(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        config = await self._manager.update_code(self._unqualified(params))
        return OperationResult(self._config(config))

    async def update_function_configuration(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        config = await self._manager.update_configuration(self._unqualified(params))
        return OperationResult(self._config(config))

    async def delete_function(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._manager.delete(*self._ref(params))
        return OperationResult({})

    async def get_account_settings(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(
            {
                "AccountLimit": {
                    "TotalCodeSize": _TOTAL_CODE_SIZE,
                    "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                    "CodeSizeZipped": _ZIPPED_CODE_SIZE,
                    "ConcurrentExecutions": self._account_concurrency,
                    "UnreservedConcurrentExecutions": self._account_concurrency,
                },
                "AccountUsage": {
                    "TotalCodeSize": self._manager.total_code_size(),
                    "FunctionCount": self._manager.function_count(),
                },
            }
        )


def _encode_marker(index: int) -> str:
    return base64.urlsafe_b64encode(f"lamina:{index}".encode()).decode()


def _decode_marker(marker: str | None, total: int) -> int:
    if not marker:
        return 0
    try:
        prefix, _, index = base64.urlsafe_b64decode(marker.encode()).decode().partition(":")
        value = int(index)
    except (ValueError, UnicodeDecodeError):
        raise invalid_parameter("Invalid marker.") from None
    if prefix != "lamina" or not 0 <= value <= total:
        raise invalid_parameter("Invalid marker.")
    return value


def build_lambda_facade(
    protocol: WireProtocol,
    manager: FunctionManager,
    invocations: InvocationService,
    code_urls: CodeUrlSigner,
    account_concurrency: int,
) -> ServiceFacade:
    operations = LambdaOperations(manager, code_urls, account_concurrency)
    invoke = InvokeHandler(manager, invocations)
    table: dict[str, OperationHandler] = {
        "CreateFunction": operations.create_function,
        "GetFunction": operations.get_function,
        "GetFunctionConfiguration": operations.get_function_configuration,
        "ListFunctions": operations.list_functions,
        "UpdateFunctionCode": operations.update_function_code,
        "UpdateFunctionConfiguration": operations.update_function_configuration,
        "DeleteFunction": operations.delete_function,
        "GetAccountSettings": operations.get_account_settings,
        "Invoke": invoke.invoke,
    }
    return ServiceFacade(protocol, table)
