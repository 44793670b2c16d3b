"""The Lambda API's operation table: which handler serves which operation of botocore's model."""

from __future__ import annotations

from lamina.api.code_urls import CodeUrlSigner
from lamina.api.services.lambda_.async_settings import AsyncSettingsOperations
from lamina.api.services.lambda_.backends import LambdaBackends
from lamina.api.services.lambda_.invoke import InvokeHandler
from lamina.api.services.lambda_.operations import LambdaOperations
from lamina.api.services.service import OperationHandler, ServiceFacade
from lamina.protocol.http import WireProtocol


def build_lambda_facade(
    protocol: WireProtocol, backends: LambdaBackends, code_urls: CodeUrlSigner
) -> ServiceFacade:
    operations = LambdaOperations(backends, code_urls)
    async_settings = AsyncSettingsOperations(
        backends.event_invoke_configs, backends.recursion, backends.manager.placement
    )
    invoke = InvokeHandler(backends.manager, backends.invocations, backends.delivery, backends.recursion)
    table: dict[str, OperationHandler] = {
        "CreateFunction": operations.create_function,
        "GetFunction": operations.get_function,
        "GetFunctionConfiguration": operations.get_function_configuration,
        "ListFunctions": operations.list_functions,
        "UpdateFunctionCode": operations.update_function_code,
        "UpdateFunctionConfiguration": operations.update_function_configuration,
        "DeleteFunction": operations.delete_function,
        "PublishVersion": operations.publish_version,
        "ListVersionsByFunction": operations.list_versions_by_function,
        "CreateAlias": operations.create_alias,
        "GetAlias": operations.get_alias,
        "UpdateAlias": operations.update_alias,
        "DeleteAlias": operations.delete_alias,
        "ListAliases": operations.list_aliases,
        "PutProvisionedConcurrencyConfig": operations.put_provisioned_concurrency_config,
        "GetProvisionedConcurrencyConfig": operations.get_provisioned_concurrency_config,
        "DeleteProvisionedConcurrencyConfig": operations.delete_provisioned_concurrency_config,
        "ListProvisionedConcurrencyConfigs": operations.list_provisioned_concurrency_configs,
        "AddPermission": operations.add_permission,
        "GetPolicy": operations.get_policy,
        "RemovePermission": operations.remove_permission,
        "TagResource": operations.tag_resource,
        "UntagResource": operations.untag_resource,
        "ListTags": operations.list_tags,
        "PutFunctionConcurrency": operations.put_function_concurrency,
        "GetFunctionConcurrency": operations.get_function_concurrency,
        "DeleteFunctionConcurrency": operations.delete_function_concurrency,
        "GetAccountSettings": operations.get_account_settings,
        "PutFunctionEventInvokeConfig": async_settings.put_function_event_invoke_config,
        "UpdateFunctionEventInvokeConfig": async_settings.update_function_event_invoke_config,
        "GetFunctionEventInvokeConfig": async_settings.get_function_event_invoke_config,
        "DeleteFunctionEventInvokeConfig": async_settings.delete_function_event_invoke_config,
        "ListFunctionEventInvokeConfigs": async_settings.list_function_event_invoke_configs,
        "PutFunctionRecursionConfig": async_settings.put_function_recursion_config,
        "GetFunctionRecursionConfig": async_settings.get_function_recursion_config,
        "Invoke": invoke.invoke,
    }
    return ServiceFacade(protocol, table)
