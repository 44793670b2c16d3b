"""REST APIs (API Gateway v1): their resources, methods, integrations, deployments and stages,
kept in the resource store and indexed in memory (the endpoint reads the index, never the store).

Documents are in the wire shape of botocore's `apigateway` model, dates as epoch seconds. One
document holds an API with its resource tree (a method with its integration and responses lives on
its resource, as GetResource(embed=methods) shows it); a deployment is a frozen copy of that tree,
which is what a stage serves, so a change reaches callers only when deployed — as on AWS."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamina.apigateway.errors import bad_request, conflict, not_found
from lamina.apigateway.execution_log import ExecutionLog
from lamina.apigateway.ids import new_api_id, new_id
from lamina.apigateway.patches import PatchSpec, apply_patches
from lamina.apigateway.requests import ApiRequest
from lamina.apigateway.resource_paths import PathTree, check_path_part
from lamina.apigateway.rest_integrations import MethodCall
from lamina.apigateway.uris import check_http_uri
from lamina.domain.owner_regexes import check_pattern
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["Deployment", "RestApi", "RestApiService"]

API_KIND = "apigateway/restapi"
DEPLOYMENT_KIND = "apigateway/deployment"
STAGE_KIND = "apigateway/stage"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})
INTEGRATION_TYPES = frozenset({"AWS", "AWS_PROXY", "HTTP", "HTTP_PROXY", "MOCK"})
AUTHORIZATION_TYPES = frozenset({"NONE", "AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS"})
PASSTHROUGH = frozenset({"WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER"})
DEFAULT_TIMEOUT_MS = 29_000

API_PATCHES: PatchSpec = {
    "name": "str",
    "description": "str",
    "apiKeySource": "str",
    "binaryMediaTypes": "list",
    "minimumCompressionSize": "int",
    "disableExecuteApiEndpoint": "bool",
    "policy": "str",
}
RESOURCE_PATCHES: PatchSpec = {"pathPart": "str", "parentId": "str"}
METHOD_PATCHES: PatchSpec = {
    "authorizationType": "str",
    "authorizerId": "str",
    "apiKeyRequired": "bool",
    "operationName": "str",
    "requestParameters": "map",
    "requestModels": "map",
    "requestValidatorId": "str",
}
METHOD_RESPONSE_PATCHES: PatchSpec = {"responseParameters": "map", "responseModels": "map"}
INTEGRATION_PATCHES: PatchSpec = {
    "uri": "str",
    "httpMethod": "str",
    "credentials": "str",
    "requestTemplates": "map",
    "requestParameters": "map",
    "passthroughBehavior": "str",
    "contentHandling": "str",
    "timeoutInMillis": "int",
    "cacheNamespace": "str",
    "connectionType": "str",
}
INTEGRATION_RESPONSE_PATCHES: PatchSpec = {
    "selectionPattern": "str",
    "responseTemplates": "map",
    "responseParameters": "map",
    "contentHandling": "str",
}
AUTHORIZER_PATCHES: PatchSpec = {
    "name": "str",
    "type": "str",
    "authorizerUri": "str",
    "authorizerCredentials": "str",
    "identitySource": "str",
    "identityValidationExpression": "str",
    "authorizerResultTtlInSeconds": "int",
    "authType": "str",
    "providerARNs": "list",
}
AUTHORIZER_TYPES = frozenset({"TOKEN", "REQUEST", "COGNITO_USER_POOLS"})
MAX_AUTHORIZER_TTL_S = 3600
STAGE_PATCHES: PatchSpec = {
    "accessLogSettings": "map",
    "description": "str",
    "deploymentId": "str",
    "variables": "map",
    "tracingEnabled": "bool",
    "cacheClusterEnabled": "bool",
    "cacheClusterSize": "str",
}


def _now() -> float:
    return round(time.time(), 3)


@dataclass
class Deployment:
    """A frozen copy of an API's resources: what stages pointing at it serve."""

    document: dict[str, Any]  # id, description, createdDate
    resources: dict[str, dict[str, Any]]
    authorizers: dict[str, dict[str, Any]]
    _tree: PathTree | None = field(default=None, init=False, repr=False)

    @property
    def tree(self) -> PathTree:
        if self._tree is None:
            self._tree = PathTree((rid, resource["path"]) for rid, resource in self.resources.items())
        return self._tree


@dataclass
class RestApi:
    account: str
    region: str
    document: dict[str, Any]
    resources: dict[str, dict[str, Any]]
    authorizers: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tree: PathTree | None = field(default=None, init=False, repr=False)

    @property
    def id(self) -> str:
        return str(self.document["id"])

    @property
    def tree(self) -> PathTree:
        """The current (undeployed) resources, for TestInvokeMethod."""
        if self._tree is None:
            self._tree = PathTree((rid, resource["path"]) for rid, resource in self.resources.items())
        return self._tree

    def changed(self) -> None:
        self._tree = None

    def resource(self, resource_id: str) -> dict[str, Any]:
        resource = self.resources.get(resource_id)
        if resource is None:
            raise not_found("Invalid Resource identifier specified")
        return resource

    def method(self, resource_id: str, http_method: str) -> dict[str, Any]:
        method = self.resource(resource_id).get("resourceMethods", {}).get(http_method.upper())
        if method is None:
            raise not_found("Invalid Method identifier specified")
        return method

    def integration(self, resource_id: str, http_method: str) -> dict[str, Any]:
        integration = self.method(resource_id, http_method).get("methodIntegration")
        if integration is None:
            raise not_found("Invalid Integration identifier specified")
        return integration

    def stage(self, name: str) -> dict[str, Any]:
        stage = self.stages.get(name)
        if stage is None:
            raise not_found("Invalid Stage identifier specified")
        return stage

    def deployment(self, deployment_id: str) -> Deployment:
        deployment = self.deployments.get(deployment_id)
        if deployment is None:
            raise not_found("Invalid Deployment identifier specified")
        return deployment

    def method_call(
        self,
        stage: str,
        stage_variables: dict[str, str],
        resource: dict[str, Any],
        method: dict[str, Any],
        path_parameters: dict[str, str],
        request: ApiRequest,
        log: ExecutionLog,
    ) -> MethodCall:
        """One request to one of this API's methods, as its integration runs it."""
        log.add(f"Starting execution for request: {request.request_id}")
        binary_types = list(self.document.get("binaryMediaTypes") or [])
        return MethodCall(
            self.id,
            self.account,
            self.region,
            stage,
            stage_variables,
            binary_types,
            resource,
            method,
            path_parameters,
            request,
            log,
        )


def _path_of(parent: dict[str, Any], part: str) -> str:
    return ("" if parent["path"] == "/" else parent["path"]) + "/" + part


class RestApiService:
    def __init__(self, store: ResourceStore) -> None:
        self._store = store
        self._apis: dict[str, RestApi] = {}  # by id: ids are unique across accounts and regions
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        # Under the lock: a reload read the store while a write was in flight, then replaced
        # the in-memory state with what it read, losing the write (seen on a shared database).
        async with self._lock:
            apis: dict[str, RestApi] = {}
            for key, document in await self._store.list_kind(API_KIND):
                apis[key.name] = RestApi(
                    key.account,
                    key.region,
                    document["api"],
                    document["resources"],
                    document.get("authorizers", {}),
                )
            for key, document in await self._store.list_kind(DEPLOYMENT_KIND):
                api = apis.get(key.name.split("/")[0])
                if api is not None:
                    api.deployments[document["deployment"]["id"]] = Deployment(
                        document["deployment"], document["resources"], document.get("authorizers", {})
                    )
            for key, document in await self._store.list_kind(STAGE_KIND):
                api = apis.get(key.name.split("/")[0])
                if api is not None:
                    api.stages[document["stageName"]] = document
            self._apis = apis

    # lookups -------------------------------------------------------------------------------------
    def api_by_id(self, api_id: str) -> RestApi | None:
        """Any account's API (the endpoint: an id names one API)."""
        return self._apis.get(api_id)

    def api(self, account: str, region: str, api_id: str) -> RestApi:
        api = self._apis.get(api_id)
        if api is None or api.account != account or api.region != region:
            raise not_found(f"Invalid API identifier specified {account}:{api_id}")
        return api

    def apis(self, account: str, region: str) -> list[RestApi]:
        found = [api for api in self._apis.values() if api.account == account and api.region == region]
        return sorted(found, key=lambda api: (api.document["createdDate"], api.id))

    # persistence ---------------------------------------------------------------------------------
    async def _save(self, api: RestApi, *more: Write) -> None:
        api.changed()
        document = {"api": api.document, "resources": api.resources, "authorizers": api.authorizers}
        await self._store.apply(
            [Write(ResourceKey(API_KIND, api.account, api.region, api.id), document), *more]
        )

    @staticmethod
    def _stage_write(api: RestApi, name: str, stage: dict[str, Any] | None) -> Write:
        return Write(ResourceKey(STAGE_KIND, api.account, api.region, f"{api.id}/{name}"), stage)

    # APIs ----------------------------------------------------------------------------------------
    async def create_api(self, account: str, region: str, params: dict[str, Any]) -> RestApi:
        name = params.get("name")
        if not name:
            raise bad_request("Invalid API name specified")
        async with self._lock:
            api_id = new_api_id()
            root_id = new_id(10)
            document: dict[str, Any] = {
                "id": api_id,
                "name": name,
                "createdDate": _now(),
                "apiKeySource": params.get("apiKeySource") or "HEADER",
                "endpointConfiguration": params.get("endpointConfiguration") or {"types": ["EDGE"]},
                "disableExecuteApiEndpoint": bool(params.get("disableExecuteApiEndpoint", False)),
                "rootResourceId": root_id,
            }
            for member in (
                "description",
                "version",
                "binaryMediaTypes",
                "minimumCompressionSize",
                "policy",
                "tags",
            ):
                if params.get(member) is not None:
                    document[member] = params[member]
            api = RestApi(account, region, document, {root_id: {"id": root_id, "path": "/"}})
            await self._save(api)
            self._apis[api_id] = api
            return api

    async def import_into(
        self,
        account: str,
        region: str,
        api_id: str | None,
        build: Callable[[RestApi | None], Awaitable[RestApi]],
    ) -> RestApi:
        """An imported definition (rest_import.py) as an API: `build` makes the draft from the
        current API (None for a new one) and the draft replaces its definition, resources and
        authorizers in one write; both under the service's lock, so two imports merging into
        one API at once both land."""
        async with self._lock:
            current = self.api(account, region, api_id) if api_id is not None else None
            draft = await build(current)
            if current is None:
                api = RestApi(draft.account, draft.region, draft.document, draft.resources, draft.authorizers)
                self._apis[api.id] = api
            else:
                api = current
                api.document, api.resources, api.authorizers = (
                    draft.document,
                    draft.resources,
                    draft.authorizers,
                )
            await self._save(api)
            return api

    async def update_api(
        self, account: str, region: str, api_id: str, patches: Sequence[dict[str, Any]]
    ) -> RestApi:
        async with self._lock:
            api = self.api(account, region, api_id)
            changed = apply_patches(api.document, patches, API_PATCHES)
            if not changed.get("name"):
                raise bad_request("Invalid API name specified")
            api.document = changed
            await self._save(api)
            return api

    async def delete_api(self, account: str, region: str, api_id: str) -> None:
        async with self._lock:
            api = self.api(account, region, api_id)
            writes = [Write(ResourceKey(API_KIND, account, region, api_id), None)]
            writes += [self._stage_write(api, name, None) for name in api.stages]
            writes += [
                Write(ResourceKey(DEPLOYMENT_KIND, account, region, f"{api_id}/{deployment_id}"), None)
                for deployment_id in api.deployments
            ]
            await self._store.apply(writes)
            del self._apis[api_id]

    # resources -----------------------------------------------------------------------------------
    async def create_resource(self, api: RestApi, parent_id: str, path_part: str) -> dict[str, Any]:
        async with self._lock:
            parent = api.resource(parent_id)
            self._check_child(api, parent, path_part)
            resource_id = new_id()
            resource = {
                "id": resource_id,
                "parentId": parent_id,
                "pathPart": path_part,
                "path": _path_of(parent, path_part),
            }
            api.resources[resource_id] = resource
            await self._save(api)
            return resource

    @staticmethod
    def _check_child(api: RestApi, parent: dict[str, Any], path_part: str, moving: str | None = None) -> None:
        problem = check_path_part(path_part)
        if problem is not None:
            raise bad_request(problem)
        if path_part.startswith("{"):
            name = path_part.strip("{}+")
            used = {part.strip("{}+") for part in parent["path"].split("/") if part.startswith("{")}
            if name in used:
                raise bad_request(
                    f"Resource's path part {{{name}}} is already used in the path {parent['path']}"
                )
        if (
            path_part.endswith("+}")
            and moving is not None
            and any(resource.get("parentId") == moving for resource in api.resources.values())
        ):
            raise bad_request("A resource with children cannot have a greedy path variable")
        if parent.get("pathPart", "").endswith("+}"):
            raise bad_request("Cannot create a child of a resource with a greedy path variable")
        siblings = [
            resource
            for resource in api.resources.values()
            if resource.get("parentId") == parent["id"] and resource["id"] != moving
        ]
        for sibling in siblings:
            if sibling.get("pathPart") == path_part:
                raise conflict(f"Another resource with the same parent already has this name: {path_part}")
            if path_part.startswith("{") and sibling.get("pathPart", "").startswith("{"):
                raise bad_request(
                    "A sibling ({" + sibling["pathPart"][1:-1] + "}) of this resource already has a variable "
                    "path part -- only one is allowed"
                )

    async def update_resource(
        self, api: RestApi, resource_id: str, patches: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        async with self._lock:
            resource = api.resource(resource_id)
            if "parentId" not in resource:
                raise bad_request("Root resource cannot be updated")
            changed = apply_patches(resource, patches, RESOURCE_PATCHES)
            parent = api.resource(changed["parentId"])
            if self._descends(api, parent["id"], resource_id):
                raise bad_request("A resource cannot be moved under itself")
            self._check_child(api, parent, changed["pathPart"], moving=resource_id)
            api.resources[resource_id] = changed
            self._repath(api, resource_id)
            await self._save(api)
            return changed

    @staticmethod
    def _descends(api: RestApi, resource_id: str, ancestor: str) -> bool:
        current: str | None = resource_id
        while current is not None:
            if current == ancestor:
                return True
            current = api.resources[current].get("parentId")
        return False

    def _repath(self, api: RestApi, resource_id: str) -> None:
        resource = api.resources[resource_id]
        resource["path"] = _path_of(api.resources[resource["parentId"]], resource["pathPart"])
        for child in [r for r in api.resources.values() if r.get("parentId") == resource_id]:
            self._repath(api, child["id"])

    async def delete_resource(self, api: RestApi, resource_id: str) -> None:
        async with self._lock:
            resource = api.resource(resource_id)
            if "parentId" not in resource:
                raise bad_request("Cannot delete root resource")
            for rid in [rid for rid in api.resources if self._descends(api, rid, resource_id)]:
                del api.resources[rid]
            await self._save(api)

    # methods, integrations and their responses ---------------------------------------------------
    async def put_method(
        self, api: RestApi, resource_id: str, http_method: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        http_method = http_method.upper()
        if http_method not in METHODS:
            raise bad_request(
                "Invalid HttpMethod specified. Valid options are GET,PUT,POST,DELETE,PATCH,OPTIONS,HEAD,ANY"
            )
        authorization = params.get("authorizationType")
        if authorization not in AUTHORIZATION_TYPES:
            raise bad_request(
                f"Invalid authorization type specified. Valid options are {sorted(AUTHORIZATION_TYPES)}"
            )
        if authorization == "CUSTOM" and params.get("authorizerId") not in api.authorizers:
            raise bad_request(
                "Invalid authorizer ID specified. Setting the authorization type to CUSTOM requires a valid authorizer."
            )
        async with self._lock:
            methods = api.resource(resource_id).setdefault("resourceMethods", {})
            if http_method in methods:
                raise conflict("Method already exists for this resource")
            method: dict[str, Any] = {
                "httpMethod": http_method,
                "authorizationType": authorization,
                "apiKeyRequired": bool(params.get("apiKeyRequired", False)),
            }
            for member in (
                "authorizerId",
                "operationName",
                "requestParameters",
                "requestModels",
                "requestValidatorId",
                "authorizationScopes",
            ):
                if params.get(member) is not None:
                    method[member] = params[member]
            methods[http_method] = method
            await self._save(api)
            return method

    async def update_method(
        self, api: RestApi, resource_id: str, http_method: str, patches: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        async with self._lock:
            method = api.method(resource_id, http_method)
            changed = apply_patches(method, patches, METHOD_PATCHES)
            if changed.get("authorizationType") not in AUTHORIZATION_TYPES:
                raise bad_request("Invalid authorization type specified")
            if (
                changed["authorizationType"] == "CUSTOM"
                and changed.get("authorizerId") not in api.authorizers
            ):
                raise bad_request(
                    "Invalid authorizer ID specified. Setting the authorization type to CUSTOM requires a valid authorizer."
                )
            api.resource(resource_id)["resourceMethods"][http_method.upper()] = changed
            await self._save(api)
            return changed

    async def delete_method(self, api: RestApi, resource_id: str, http_method: str) -> None:
        async with self._lock:
            api.method(resource_id, http_method)
            del api.resource(resource_id)["resourceMethods"][http_method.upper()]
            await self._save(api)

    async def put_method_response(
        self, api: RestApi, resource_id: str, http_method: str, status: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        _check_status(status)
        async with self._lock:
            method = api.method(resource_id, http_method)
            response: dict[str, Any] = {"statusCode": status}
            for member in ("responseParameters", "responseModels"):
                if params.get(member) is not None:
                    response[member] = params[member]
            method.setdefault("methodResponses", {})[status] = response
            await self._save(api)
            return response

    def method_response(
        self, api: RestApi, resource_id: str, http_method: str, status: str
    ) -> dict[str, Any]:
        response = api.method(resource_id, http_method).get("methodResponses", {}).get(status)
        if response is None:
            raise not_found("Invalid Response status code specified")
        return response

    async def update_method_response(
        self, api: RestApi, resource_id: str, http_method: str, status: str, patches: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        async with self._lock:
            changed = apply_patches(
                self.method_response(api, resource_id, http_method, status), patches, METHOD_RESPONSE_PATCHES
            )
            api.method(resource_id, http_method)["methodResponses"][status] = changed
            await self._save(api)
            return changed

    async def delete_method_response(
        self, api: RestApi, resource_id: str, http_method: str, status: str
    ) -> None:
        async with self._lock:
            self.method_response(api, resource_id, http_method, status)
            del api.method(resource_id, http_method)["methodResponses"][status]
            await self._save(api)

    async def put_integration(
        self, api: RestApi, resource_id: str, http_method: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        kind = params.get("type")
        passthrough = params.get("passthroughBehavior") or "WHEN_NO_MATCH"
        timeout = params.get("timeoutInMillis") or DEFAULT_TIMEOUT_MS
        async with self._lock:
            method = api.method(resource_id, http_method)
            integration: dict[str, Any] = {
                "type": kind,
                "passthroughBehavior": passthrough,
                "timeoutInMillis": int(timeout),
                "cacheNamespace": params.get("cacheNamespace") or resource_id,
                "cacheKeyParameters": params.get("cacheKeyParameters") or [],
            }
            if params.get("integrationHttpMethod"):
                integration["httpMethod"] = str(params["integrationHttpMethod"]).upper()
            for member in (
                "uri",
                "credentials",
                "requestParameters",
                "requestTemplates",
                "contentHandling",
                "connectionType",
                "connectionId",
            ):
                if params.get(member) is not None:
                    integration[member] = params[member]
            _check_integration(integration)
            method["methodIntegration"] = integration
            await self._save(api)
            return integration

    async def update_integration(
        self, api: RestApi, resource_id: str, http_method: str, patches: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        async with self._lock:
            changed = apply_patches(api.integration(resource_id, http_method), patches, INTEGRATION_PATCHES)
            _check_integration(changed)
            api.method(resource_id, http_method)["methodIntegration"] = changed
            await self._save(api)
            return changed

    async def delete_integration(self, api: RestApi, resource_id: str, http_method: str) -> None:
        async with self._lock:
            api.integration(resource_id, http_method)
            del api.method(resource_id, http_method)["methodIntegration"]
            await self._save(api)

    async def put_integration_response(
        self, api: RestApi, resource_id: str, http_method: str, status: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        _check_status(status)
        async with self._lock:
            integration = api.integration(resource_id, http_method)
            if status not in api.method(resource_id, http_method).get("methodResponses", {}):
                raise not_found("Invalid Response status code specified")
            response: dict[str, Any] = {"statusCode": status}
            for member in ("selectionPattern", "responseParameters", "responseTemplates", "contentHandling"):
                if params.get(member) is not None:
                    response[member] = params[member]
            _check_selection_pattern(response)
            integration.setdefault("integrationResponses", {})[status] = response
            await self._save(api)
            return response

    def integration_response(
        self, api: RestApi, resource_id: str, http_method: str, status: str
    ) -> dict[str, Any]:
        response = api.integration(resource_id, http_method).get("integrationResponses", {}).get(status)
        if response is None:
            raise not_found("Invalid Response status code specified")
        return response

    async def update_integration_response(
        self, api: RestApi, resource_id: str, http_method: str, status: str, patches: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        async with self._lock:
            current = self.integration_response(api, resource_id, http_method, status)
            changed = apply_patches(current, patches, INTEGRATION_RESPONSE_PATCHES)
            _check_selection_pattern(changed)
            api.integration(resource_id, http_method)["integrationResponses"][status] = changed
            await self._save(api)
            return changed

    async def delete_integration_response(
        self, api: RestApi, resource_id: str, http_method: str, status: str
    ) -> None:
        async with self._lock:
            self.integration_response(api, resource_id, http_method, status)
            del api.integration(resource_id, http_method)["integrationResponses"][status]
            await self._save(api)

    # authorizers ---------------------------------------------------------------------------------
    def authorizer(self, api: RestApi, authorizer_id: str) -> dict[str, Any]:
        authorizer = api.authorizers.get(authorizer_id)
        if authorizer is None:
            raise not_found("Invalid Authorizer identifier specified")
        return authorizer

    async def create_authorizer(self, api: RestApi, params: dict[str, Any]) -> dict[str, Any]:
        authorizer: dict[str, Any] = {"id": new_id()}
        for member in AUTHORIZER_PATCHES:
            if params.get(member) is not None:
                authorizer[member] = params[member]
        if params.get("type") in ("TOKEN", "REQUEST"):
            authorizer.setdefault("authorizerResultTtlInSeconds", 300)
        _check_authorizer(authorizer)
        async with self._lock:
            if any(existing["name"] == authorizer["name"] for existing in api.authorizers.values()):
                raise conflict(f"Authorizer name already exists: {authorizer['name']}")
            api.authorizers[authorizer["id"]] = authorizer
            await self._save(api)
            return authorizer

    async def update_authorizer(
        self, api: RestApi, authorizer_id: str, patches: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        async with self._lock:
            changed = apply_patches(self.authorizer(api, authorizer_id), patches, AUTHORIZER_PATCHES)
            _check_authorizer(changed)
            api.authorizers[authorizer_id] = changed
            await self._save(api)
            return changed

    async def delete_authorizer(self, api: RestApi, authorizer_id: str) -> None:
        async with self._lock:
            self.authorizer(api, authorizer_id)
            for resource in api.resources.values():
                for name, method in resource.get("resourceMethods", {}).items():
                    if method.get("authorizerId") == authorizer_id:
                        raise conflict(
                            f"Cannot delete authorizer '{authorizer_id}', is referenced in method: {name} {resource['path']}"
                        )
            del api.authorizers[authorizer_id]
            await self._save(api)

    # deployments and stages ----------------------------------------------------------------------
    async def create_deployment(self, api: RestApi, params: dict[str, Any]) -> Deployment:
        methods = [
            (resource["path"], name, method)
            for resource in api.resources.values()
            for name, method in resource.get("resourceMethods", {}).items()
        ]
        if not methods:
            raise bad_request("The REST API doesn't contain any methods")
        for _, _, method in methods:
            if "methodIntegration" not in method:
                raise bad_request("No integration defined for method")
        stage_name = params.get("stageName")
        if stage_name is not None:
            _check_stage_name(stage_name)
        async with self._lock:
            deployment_id = new_id()
            document: dict[str, Any] = {"id": deployment_id, "createdDate": _now()}
            if params.get("description") is not None:
                document["description"] = params["description"]
            deployment = Deployment(document, copy.deepcopy(api.resources), copy.deepcopy(api.authorizers))
            key = ResourceKey(DEPLOYMENT_KIND, api.account, api.region, f"{api.id}/{deployment_id}")
            writes = [
                Write(
                    key,
                    {
                        "deployment": document,
                        "resources": deployment.resources,
                        "authorizers": deployment.authorizers,
                    },
                )
            ]
            stage: dict[str, Any] | None = None
            if stage_name:
                stage = copy.deepcopy(api.stages.get(stage_name)) or _new_stage(
                    stage_name, params.get("stageDescription")
                )
                stage["deploymentId"] = deployment_id
                stage["lastUpdatedDate"] = _now()
                if params.get("variables") is not None:
                    stage["variables"] = {**stage.get("variables", {}), **params["variables"]}
                writes.append(self._stage_write(api, stage_name, stage))
            await self._store.apply(writes)
            api.deployments[deployment_id] = deployment
            if stage is not None and stage_name:
                api.stages[stage_name] = stage
            return deployment

    async def delete_deployment(self, api: RestApi, deployment_id: str) -> None:
        async with self._lock:
            api.deployment(deployment_id)
            if any(stage["deploymentId"] == deployment_id for stage in api.stages.values()):
                raise bad_request("Active stages pointing to this deployment must be moved or deleted")
            key = ResourceKey(DEPLOYMENT_KIND, api.account, api.region, f"{api.id}/{deployment_id}")
            await self._store.apply([Write(key, None)])
            del api.deployments[deployment_id]

    async def create_stage(self, api: RestApi, params: dict[str, Any]) -> dict[str, Any]:
        name = params["stageName"]
        _check_stage_name(name)
        api.deployment(params["deploymentId"])
        async with self._lock:
            if name in api.stages:
                raise conflict("Stage already exists")
            stage = _new_stage(name, params.get("description"))
            stage["deploymentId"] = params["deploymentId"]
            for member in ("variables", "tracingEnabled", "cacheClusterEnabled", "cacheClusterSize", "tags"):
                if params.get(member) is not None:
                    stage[member] = params[member]
            await self._store.apply([self._stage_write(api, name, stage)])
            api.stages[name] = stage
            return stage

    async def update_stage(
        self, api: RestApi, name: str, patches: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        async with self._lock:
            changed = apply_patches(api.stage(name), patches, STAGE_PATCHES, method_settings=True)
            if not changed.get("deploymentId"):
                raise bad_request("A stage needs a deploymentId")
            api.deployment(changed["deploymentId"])
            changed["lastUpdatedDate"] = _now()
            await self._store.apply([self._stage_write(api, name, changed)])
            api.stages[name] = changed
            return changed

    async def delete_stage(self, api: RestApi, name: str) -> None:
        async with self._lock:
            api.stage(name)
            await self._store.apply([self._stage_write(api, name, None)])
            del api.stages[name]


def _new_stage(name: str, description: str | None) -> dict[str, Any]:
    now = _now()
    stage: dict[str, Any] = {
        "stageName": name,
        "createdDate": now,
        "lastUpdatedDate": now,
        "methodSettings": {},
        "tracingEnabled": False,
        "cacheClusterEnabled": False,
        "cacheClusterStatus": "NOT_AVAILABLE",
    }
    if description is not None:
        stage["description"] = description
    return stage


def _check_selection_pattern(response: dict[str, Any]) -> None:
    problem = check_pattern(str(response.get("selectionPattern") or ""))
    if problem is not None:
        raise bad_request(problem)


def _check_integration(integration: dict[str, Any]) -> None:
    kind = integration.get("type")
    if kind not in INTEGRATION_TYPES:
        raise bad_request(
            f"Invalid integration type specified. Valid options are {', '.join(sorted(INTEGRATION_TYPES))}"
        )
    uri = str(integration.get("uri") or "")
    if kind != "MOCK":
        if not integration.get("httpMethod"):
            raise bad_request("Enumeration value for HttpMethod must be non-empty")
        if integration["httpMethod"] not in METHODS:
            raise bad_request(
                f"Invalid integration HTTP method specified: {str(integration['httpMethod'])[:20]}"
            )
        if not uri:
            raise bad_request("Invalid integration URI specified")
    if kind in ("AWS", "AWS_PROXY") and not uri.startswith("arn:aws:apigateway:"):
        raise bad_request("AWS ARN for integration must contain path or action")
    if kind in ("HTTP", "HTTP_PROXY"):
        problem = check_http_uri(uri)
        if problem is not None:
            raise bad_request(problem)
    if integration.get("passthroughBehavior") not in PASSTHROUGH:
        raise bad_request("Invalid passthrough behavior specified")
    timeout = integration.get("timeoutInMillis")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 50 <= timeout <= DEFAULT_TIMEOUT_MS:
        raise bad_request("Timeout should be between 50 ms and 29000 ms")


def _check_authorizer(authorizer: dict[str, Any]) -> None:
    if not authorizer.get("name"):
        raise bad_request("Invalid authorizer name specified")
    kind = authorizer.get("type")
    if kind not in AUTHORIZER_TYPES:
        raise bad_request(
            f"Invalid authorizer type specified. Valid options are {', '.join(sorted(AUTHORIZER_TYPES))}"
        )
    if kind in ("TOKEN", "REQUEST") and not str(authorizer.get("authorizerUri", "")).startswith(
        "arn:aws:apigateway:"
    ):
        raise bad_request("Invalid Authorizer URI specified")
    ttl = authorizer.get("authorizerResultTtlInSeconds", 0)
    if not 0 <= int(ttl) <= MAX_AUTHORIZER_TTL_S:
        raise bad_request(f"Invalid authorizer TTL specified: must be between 0 and {MAX_AUTHORIZER_TTL_S}")
    problem = check_pattern(str(authorizer.get("identityValidationExpression") or ""))
    if problem is not None:
        raise bad_request(problem)
    if kind == "TOKEN" and not str(authorizer.get("identitySource", "")).startswith("method.request.header."):
        raise bad_request(
            "Invalid identity source specified: a TOKEN authorizer reads one method.request.header"
        )
    if kind == "REQUEST" and int(ttl) > 0 and not authorizer.get("identitySource"):
        raise bad_request("Identity sources are required when authorizer caching is enabled")


def _check_stage_name(name: str) -> None:
    if (
        not name
        or len(name) > 128
        or not all(char.isascii() and (char.isalnum() or char in "-_") for char in name)
    ):
        raise bad_request("Stage name only allows a-zA-Z0-9_")


def _check_status(status: str) -> None:
    if not (len(status) == 3 and status.isascii() and status.isdigit() and 100 <= int(status) <= 599):
        raise bad_request("Invalid status code specified")
