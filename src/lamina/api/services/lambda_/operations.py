"""Lambda operations → handlers. Each handler is thin: parameters in, service call, output out."""

from __future__ import annotations

import json
from typing import Any

from lamina.api.code_urls import CodeUrlSigner
from lamina.api.context import OperationResult, RequestContext
from lamina.api.services.lambda_.backends import LambdaBackends
from lamina.api.services.lambda_.params import function_ref, page_of, unqualified_name
from lamina.domain.aliases import Alias
from lamina.domain.arns import check_new_function_name
from lamina.domain.code import MAX_UNZIPPED_BYTES
from lamina.domain.functions import LATEST, FunctionConfig
from lamina.errors import invalid_parameter
from lamina.functions.tags import check_tags

# GetFunction's, not the lists': AWS's ListFunctions and ListVersionsByFunction leave these out.
_NOT_IN_LISTS = (
    "State",
    "StateReason",
    "StateReasonCode",
    "LastUpdateStatus",
    "LastUpdateStatusReason",
    "LastUpdateStatusReasonCode",
    "RuntimeVersionConfig",
)

# Lambda quotas (GetAccountSettings on a fresh AWS account).
_TOTAL_CODE_SIZE = 80_530_636_800
_ZIPPED_CODE_SIZE = 52_428_800


class LambdaOperations:
    def __init__(self, backends: LambdaBackends, code_urls: CodeUrlSigner) -> None:
        self._manager = backends.manager
        self._aliases = backends.aliases
        self._provisioned = backends.provisioned
        self._concurrency = backends.concurrency
        self._permissions = backends.permissions
        self._tags = backends.tags
        self._layers = backends.layers
        self._code_urls = code_urls
        self._placement = backends.manager.placement

    def _ref(self, params: dict[str, Any]) -> tuple[str, str | None]:
        return function_ref(params, self._placement)

    def _function_only(self, params: dict[str, Any]) -> str:
        """Reserved concurrency belongs to the function: AWS's refusal for a version or alias."""
        name, qualifier = self._ref(params)
        if qualifier is not None:
            raise invalid_parameter(
                "This operation is permitted on Lambda functions only. Aliases and versions do not support "
                "this operation. Please specify either a function name or an unqualified function ARN."
            )
        return name

    def _unqualified(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**params, "FunctionName": unqualified_name(params, self._placement)}

    async def _with_layers(self, params: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        """The Layers parameter (version ARNs) resolved to what the function keeps of each version;
        another account's layer only if it shares it with the caller."""
        if "Layers" not in params:
            return params
        layers = await self._layers.for_function(params["Layers"] or [], context.principal)
        return {**params, "Layers": layers}

    def _config(self, config: FunctionConfig, qualifier: str | None = None) -> dict[str, Any]:
        """FunctionConfiguration; asked for through an alias, its ARN is the alias's, and asked
        for as `$LATEST` by name, it ends in `:$LATEST`, as on AWS."""
        output = config.to_api(self._placement.region, self._placement.account_id)
        if (qualifier is not None and qualifier != config.version) or qualifier == LATEST:
            output["FunctionArn"] = self._placement.arn(config.name, qualifier)
        return output

    def _list_item(self, config: FunctionConfig, *, qualify_latest: bool) -> dict[str, Any]:
        """A ListFunctions / ListVersionsByFunction item: a subset of FunctionConfiguration, as AWS
        documents (no State…, LastUpdateStatus… or RuntimeVersionConfig: GetFunction has those);
        `$LATEST` with a qualified ARN among versions."""
        item = self._config(config, LATEST if qualify_latest and config.version == LATEST else None)
        for key in _NOT_IN_LISTS:
            item.pop(key, None)
        return item

    async def create_function(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name, qualifier = self._ref(params)
        if qualifier is not None:
            raise invalid_parameter("A function name with a qualifier can't be used to create a function.")
        check_new_function_name(name, params["FunctionName"])
        tags = params.get("Tags") or {}
        check_tags(tags)
        config = await self._manager.create(
            await self._with_layers({**params, "FunctionName": name}, context)
        )
        if tags:
            await self._tags.tag(name, tags)
        return OperationResult(self._config(config))

    async def get_function(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name, qualifier = self._ref(params)
        config = self._manager.get(name, qualifier)
        code = {
            "RepositoryType": "S3",
            "Location": self._code_urls.url(context.base_url, config.code.sha256_hex),
        }
        output: dict[str, Any] = {"Configuration": self._config(config, qualifier), "Code": code}
        reserved = self._concurrency.get(name)
        if reserved is not None:
            output["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        tags = await self._tags.tags_of(name)
        if tags:
            output["Tags"] = tags
        return OperationResult(output)

    async def get_function_configuration(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        name, qualifier = self._ref(params)
        return OperationResult(self._config(self._manager.get(name, qualifier), qualifier))

    async def list_functions(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        include_versions = params.get("FunctionVersion") == "ALL"
        configs = self._manager.list(include_versions=include_versions)
        page, output = page_of(configs, params)
        items = [self._list_item(config, qualify_latest=include_versions) for config in page]
        return OperationResult({"Functions": items, **output})

    async def update_function_code(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        config = await self._manager.update_code(self._unqualified(params))
        return OperationResult(self._config(config))

    async def update_function_configuration(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        config = await self._manager.update_configuration(
            await self._with_layers(self._unqualified(params), context)
        )
        return OperationResult(self._config(config))

    async def delete_function(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._manager.delete(*self._ref(params))
        # AWS answers 204 No Content, whatever botocore's model declares (200); clients accept both.
        return OperationResult({}, status=204)

    # versions --------------------------------------------------------------------------------
    async def publish_version(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name = self._unqualified(params)["FunctionName"]
        version = await self._manager.publish_version(
            name, params.get("CodeSha256"), params.get("Description"), params.get("RevisionId")
        )
        return OperationResult(self._config(version))

    async def list_versions_by_function(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        name = self._unqualified(params)["FunctionName"]
        page, output = page_of(self._manager.list_versions(name), params)
        versions = [self._list_item(config, qualify_latest=True) for config in page]
        return OperationResult({"Versions": versions, **output})

    # aliases ---------------------------------------------------------------------------------
    def _alias(self, alias: Alias) -> dict[str, Any]:
        return alias.to_api(self._aliases.arn(alias))

    async def create_alias(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name = self._unqualified(params)["FunctionName"]
        return OperationResult(self._alias(await self._aliases.create(name, params)))

    async def get_alias(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name = self._unqualified(params)["FunctionName"]
        return OperationResult(self._alias(self._aliases.get(name, params["Name"])))

    async def update_alias(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name = self._unqualified(params)["FunctionName"]
        return OperationResult(self._alias(await self._aliases.update(name, params["Name"], params)))

    async def delete_alias(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name = self._unqualified(params)["FunctionName"]
        await self._aliases.delete(name, params["Name"])
        return OperationResult({})

    async def list_aliases(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name = self._unqualified(params)["FunctionName"]
        page, output = page_of(self._aliases.list(name, params.get("FunctionVersion")), params)
        return OperationResult({"Aliases": [self._alias(alias) for alias in page], **output})

    # provisioned concurrency -----------------------------------------------------------------
    def _qualified(self, params: dict[str, Any]) -> tuple[str, str]:
        name, qualifier = self._ref(params)
        assert qualifier is not None, "Qualifier is a required member"
        return name, qualifier

    async def put_provisioned_concurrency_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        status = await self._provisioned.put(
            *self._qualified(params), params["ProvisionedConcurrentExecutions"]
        )
        return OperationResult(status.to_api())

    async def get_provisioned_concurrency_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        status = await self._provisioned.get(*self._qualified(params))
        return OperationResult(status.to_api())

    async def delete_provisioned_concurrency_config(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        await self._provisioned.delete(*self._qualified(params))
        return OperationResult({})

    async def list_provisioned_concurrency_configs(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        name = self._unqualified(params)["FunctionName"]
        page, output = page_of(await self._provisioned.list(name), params)
        items = [
            {"FunctionArn": self._placement.arn(name, status.config.qualifier), **status.to_api()}
            for status in page
        ]
        return OperationResult({"ProvisionedConcurrencyConfigs": items, **output})

    # resource-based policies -----------------------------------------------------------------
    async def add_permission(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        statement = await self._permissions.add(*self._ref(params), params)
        return OperationResult({"Statement": json.dumps(statement, separators=(",", ":"))})

    async def get_policy(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        policy = await self._permissions.get(*self._ref(params))
        return OperationResult({"Policy": policy.document(), "RevisionId": policy.revision_id})

    async def remove_permission(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        name, qualifier = self._ref(params)
        await self._permissions.remove(name, qualifier, params["StatementId"], params.get("RevisionId"))
        return OperationResult({})

    # tags ------------------------------------------------------------------------------------
    async def tag_resource(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._tags.tag(self._tags.function_of(params["Resource"]), params["Tags"])
        return OperationResult({})

    async def untag_resource(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._tags.untag(self._tags.function_of(params["Resource"]), params["TagKeys"])
        return OperationResult({})

    async def list_tags(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult({"Tags": await self._tags.tags_of(self._tags.function_of(params["Resource"]))})

    # reserved concurrency --------------------------------------------------------------------
    async def put_function_concurrency(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        name = self._function_only(params)
        reserved = await self._concurrency.put(name, params["ReservedConcurrentExecutions"])
        return OperationResult({"ReservedConcurrentExecutions": reserved})

    async def get_function_concurrency(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        reserved = self._concurrency.get(self._function_only(params))
        return OperationResult({} if reserved is None else {"ReservedConcurrentExecutions": reserved})

    async def delete_function_concurrency(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        await self._concurrency.delete(self._function_only(params))
        return OperationResult({})

    async def get_account_settings(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(
            {
                "AccountLimit": {
                    "TotalCodeSize": _TOTAL_CODE_SIZE,
                    "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                    "CodeSizeZipped": _ZIPPED_CODE_SIZE,
                    "ConcurrentExecutions": self._concurrency.account_limit,
                    "UnreservedConcurrentExecutions": self._concurrency.unreserved_limit,
                },
                "AccountUsage": {
                    "TotalCodeSize": self._manager.total_code_size() + await self._layers.total_code_size(),
                    "FunctionCount": self._manager.function_count(),
                },
            }
        )
