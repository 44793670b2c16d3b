"""The Lambda API's operation table: which handler serves which operation of botocore's model.

Each handler object serves the operations listed under it with the method named after the operation
in snake_case (CreateFunction → create_function). `IMPLEMENTED_OPERATIONS` is what the coverage
report (scripts/lambda_coverage.py) compares with botocore's model.
"""

from __future__ import annotations

import re

from lamina.api.code_urls import CodeUrlSigner
from lamina.api.services.lambda_.async_settings import AsyncSettingsOperations
from lamina.api.services.lambda_.backends import LambdaBackends
from lamina.api.services.lambda_.code_from_buckets import CodeFromBuckets
from lamina.api.services.lambda_.event_source_mappings import EventSourceMappingOperations
from lamina.api.services.lambda_.invoke import InvokeHandler
from lamina.api.services.lambda_.layers import LayerOperations
from lamina.api.services.lambda_.operations import LambdaOperations
from lamina.api.services.lambda_.url_configs import UrlConfigOperations
from lamina.api.services.service import Authorize, OperationHandler, ServiceFacade
from lamina.protocol.http import WireProtocol

_SERVED_BY: dict[str, tuple[str, ...]] = {
    "operations": (
        "CreateFunction",
        "GetFunction",
        "GetFunctionConfiguration",
        "ListFunctions",
        "UpdateFunctionCode",
        "UpdateFunctionConfiguration",
        "DeleteFunction",
        "PublishVersion",
        "ListVersionsByFunction",
        "CreateAlias",
        "GetAlias",
        "UpdateAlias",
        "DeleteAlias",
        "ListAliases",
        "PutProvisionedConcurrencyConfig",
        "GetProvisionedConcurrencyConfig",
        "DeleteProvisionedConcurrencyConfig",
        "ListProvisionedConcurrencyConfigs",
        "AddPermission",
        "GetPolicy",
        "RemovePermission",
        "TagResource",
        "UntagResource",
        "ListTags",
        "PutFunctionConcurrency",
        "GetFunctionConcurrency",
        "DeleteFunctionConcurrency",
        "GetAccountSettings",
    ),
    "async_settings": (
        "PutFunctionEventInvokeConfig",
        "UpdateFunctionEventInvokeConfig",
        "GetFunctionEventInvokeConfig",
        "DeleteFunctionEventInvokeConfig",
        "ListFunctionEventInvokeConfigs",
        "PutFunctionRecursionConfig",
        "GetFunctionRecursionConfig",
    ),
    "url_configs": (
        "CreateFunctionUrlConfig",
        "GetFunctionUrlConfig",
        "UpdateFunctionUrlConfig",
        "DeleteFunctionUrlConfig",
        "ListFunctionUrlConfigs",
    ),
    "layers": (
        "PublishLayerVersion",
        "GetLayerVersion",
        "GetLayerVersionByArn",
        "ListLayers",
        "ListLayerVersions",
        "DeleteLayerVersion",
        "AddLayerVersionPermission",
        "GetLayerVersionPolicy",
        "RemoveLayerVersionPermission",
    ),
    "invoke": ("Invoke", "InvokeWithResponseStream", "InvokeAsync"),
    "event_source_mappings": (
        "CreateEventSourceMapping",
        "GetEventSourceMapping",
        "UpdateEventSourceMapping",
        "DeleteEventSourceMapping",
        "ListEventSourceMappings",
    ),
}
IMPLEMENTED_OPERATIONS = frozenset(name for names in _SERVED_BY.values() for name in names)


def handler_name(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def build_lambda_facade(
    protocol: WireProtocol,
    backends: LambdaBackends,
    code_urls: CodeUrlSigner,
    authorize: Authorize | None = None,
    code_from_buckets: CodeFromBuckets | None = None,
) -> ServiceFacade:
    """`code_from_buckets`: reads packages named by bucket and key (None: inline packages only)."""
    handlers: dict[str, object] = {
        "operations": LambdaOperations(backends, code_urls),
        "async_settings": AsyncSettingsOperations(
            backends.event_invoke_configs, backends.recursion, backends.manager.placement
        ),
        "url_configs": UrlConfigOperations(backends.function_urls, backends.manager.placement),
        "layers": LayerOperations(backends.layers, code_urls),
        "invoke": InvokeHandler(
            backends.manager, backends.invocations, backends.delivery, backends.recursion
        ),
        "event_source_mappings": EventSourceMappingOperations(backends.event_source_mappings),
    }
    table: dict[str, OperationHandler] = {
        operation: getattr(handlers[owner], handler_name(operation))
        for owner, operations in _SERVED_BY.items()
        for operation in operations
    }
    if code_from_buckets is not None:
        table = {
            operation: code_from_buckets.wrap(operation, handler) for operation, handler in table.items()
        }
    return ServiceFacade(protocol, table, authorize)
