"""HTTP APIs (API Gateway v2): routes, integrations, authorizers, deployments and stages, kept in
the resource store and indexed in memory (the endpoint never reads the store).

Documents are in the wire shape of botocore's `apigatewayv2` model, dates as epoch seconds. A
deployment freezes the routes, integrations and authorizers; a stage with AutoDeploy gets a new
deployment after every change, as on AWS. CreateApi with a `Target` is the quick create: an
integration, a route (`$default` unless RouteKey says otherwise) and the `$default` stage with
AutoDeploy."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lamina.apigateway.errors import bad_request, conflict, not_found
from lamina.apigateway.ids import new_api_id, new_id
from lamina.apigateway.routes import DEFAULT_ROUTE, ROUTE_METHODS, RouteTable, check_route_key
from lamina.apigateway.uris import check_http_uri
from lamina.domain.owner_regexes import check_pattern
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["HttpApi", "HttpApiService", "HttpDeployment"]

API_KIND = "apigatewayv2/api"
DEPLOYMENT_KIND = "apigatewayv2/deployment"
STAGE_KIND = "apigatewayv2/stage"
DEFAULT_STAGE = "$default"
INTEGRATION_TYPES = frozenset({"AWS_PROXY", "HTTP_PROXY"})
AUTHORIZER_TYPES = frozenset({"JWT", "REQUEST"})
AUTHORIZATION_TYPES = frozenset({"NONE", "JWT", "CUSTOM", "AWS_IAM"})
DEFAULT_TIMEOUT_MS = 30_000
_API_MEMBERS = (
    "Description",
    "CorsConfiguration",
    "DisableExecuteApiEndpoint",
    "Version",
    "Tags",
    "ApiKeySelectionExpression",
    "RouteSelectionExpression",
)
_ROUTE_MEMBERS = (
    "ApiKeyRequired",
    "AuthorizationScopes",
    "AuthorizationType",
    "AuthorizerId",
    "OperationName",
    "RequestParameters",
    "RouteKey",
    "Target",
)
_INTEGRATION_MEMBERS = (
    "ConnectionType",
    "Description",
    "IntegrationMethod",
    "IntegrationType",
    "IntegrationUri",
    "PayloadFormatVersion",
    "RequestParameters",
    "ResponseParameters",
    "TimeoutInMillis",
    "CredentialsArn",
    "IntegrationSubtype",
)
_AUTHORIZER_MEMBERS = (
    "AuthorizerPayloadFormatVersion",
    "AuthorizerResultTtlInSeconds",
    "AuthorizerType",
    "AuthorizerUri",
    "EnableSimpleResponses",
    "IdentitySource",
    "IdentityValidationExpression",
    "JwtConfiguration",
    "Name",
    "AuthorizerCredentialsArn",
)
_STAGE_MEMBERS = (
    "AutoDeploy",
    "DeploymentId",
    "Description",
    "StageVariables",
    "DefaultRouteSettings",
    "RouteSettings",
    "AccessLogSettings",
    "Tags",
)


def _now() -> float:
    return round(time.time(), 3)


@dataclass
class HttpDeployment:
    document: dict[str, Any]
    routes: dict[str, dict[str, Any]]
    integrations: dict[str, dict[str, Any]]
    authorizers: dict[str, dict[str, Any]]
    _table: RouteTable | None = field(default=None, init=False, repr=False)

    @property
    def table(self) -> RouteTable:
        if self._table is None:
            self._table = RouteTable((route_id, route["RouteKey"]) for route_id, route in self.routes.items())
        return self._table


@dataclass
class HttpApi:
    account: str
    region: str
    document: dict[str, Any]
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    integrations: dict[str, dict[str, Any]] = field(default_factory=dict)
    authorizers: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, HttpDeployment] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.document["ApiId"])

    def _get(self, items: dict[str, dict[str, Any]], item_id: str, what: str) -> dict[str, Any]:
        item = items.get(item_id)
        if item is None:
            raise not_found(f"Invalid {what} identifier specified {item_id}")
        return item

    def route(self, route_id: str) -> dict[str, Any]:
        return self._get(self.routes, route_id, "Route")

    def integration(self, integration_id: str) -> dict[str, Any]:
        return self._get(self.integrations, integration_id, "Integration")

    def authorizer(self, authorizer_id: str) -> dict[str, Any]:
        return self._get(self.authorizers, authorizer_id, "Authorizer")

    def stage(self, name: str) -> dict[str, Any]:
        return self._get(self.stages, name, "Stage")

    def deployment(self, deployment_id: str) -> HttpDeployment:
        deployment = self.deployments.get(deployment_id)
        if deployment is None:
            raise not_found(f"Invalid Deployment identifier specified {deployment_id}")
        return deployment


class HttpApiService:
    def __init__(self, store: ResourceStore, endpoint_of: Callable[[str, str], str]) -> None:
        """`endpoint_of(api id, region)`: the URL an API answers at (its ApiEndpoint)."""
        self._store = store
        self._endpoint_of = endpoint_of
        self._apis: dict[str, HttpApi] = {}
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        # Under the lock: a reload read the store while a write was in flight, then replaced
        # the in-memory state with what it read, losing the write (seen on a shared database).
        async with self._lock:
            apis: dict[str, HttpApi] = {}
            for key, document in await self._store.list_kind(API_KIND):
                apis[key.name] = HttpApi(
                    key.account,
                    key.region,
                    document["api"],
                    document["routes"],
                    document["integrations"],
                    document["authorizers"],
                )
            for key, document in await self._store.list_kind(DEPLOYMENT_KIND):
                api = apis.get(key.name.split("/")[0])
                if api is not None:
                    api.deployments[document["deployment"]["DeploymentId"]] = HttpDeployment(
                        document["deployment"],
                        document["routes"],
                        document["integrations"],
                        document["authorizers"],
                    )
            for key, document in await self._store.list_kind(STAGE_KIND):
                api = apis.get(key.name.split("/")[0])
                if api is not None:
                    api.stages[document["StageName"]] = document
            self._apis = apis

    def api_by_id(self, api_id: str) -> HttpApi | None:
        return self._apis.get(api_id)

    def api(self, account: str, region: str, api_id: str) -> HttpApi:
        api = self._apis.get(api_id)
        if api is None or (api.account, api.region) != (account, region):
            raise not_found(f"Invalid API identifier specified {account}:{api_id}")
        return api

    def apis(self, account: str, region: str) -> list[HttpApi]:
        found = [api for api in self._apis.values() if (api.account, api.region) == (account, region)]
        return sorted(found, key=lambda api: (api.document["CreatedDate"], api.id))

    # persistence ---------------------------------------------------------------------------------
    def _api_write(self, api: HttpApi) -> Write:
        document = {
            "api": api.document,
            "routes": api.routes,
            "integrations": api.integrations,
            "authorizers": api.authorizers,
        }
        return Write(ResourceKey(API_KIND, api.account, api.region, api.id), document)

    @staticmethod
    def _stage_write(api: HttpApi, name: str, stage: dict[str, Any] | None) -> Write:
        return Write(ResourceKey(STAGE_KIND, api.account, api.region, f"{api.id}/{name}"), stage)

    def _deploy(self, api: HttpApi, description: str | None, auto: bool) -> tuple[HttpDeployment, Write]:
        document: dict[str, Any] = {
            "DeploymentId": new_id(),
            "CreatedDate": _now(),
            "DeploymentStatus": "DEPLOYED",
            "AutoDeployed": auto,
        }
        if description is not None:
            document["Description"] = description
        deployment = HttpDeployment(
            document,
            copy.deepcopy(api.routes),
            copy.deepcopy(api.integrations),
            copy.deepcopy(api.authorizers),
        )
        key = ResourceKey(DEPLOYMENT_KIND, api.account, api.region, f"{api.id}/{document['DeploymentId']}")
        snapshot = {
            "deployment": document,
            "routes": deployment.routes,
            "integrations": deployment.integrations,
            "authorizers": deployment.authorizers,
        }
        return deployment, Write(key, snapshot)

    async def _save(self, api: HttpApi) -> None:
        """The API's document, and a new deployment for every AutoDeploy stage."""
        writes = [self._api_write(api)]
        deployed: list[tuple[str, dict[str, Any], HttpDeployment]] = []
        auto_stages = [name for name, stage in api.stages.items() if stage.get("AutoDeploy")]
        if auto_stages:
            deployment, write = self._deploy(api, "Automatic deployment", auto=True)
            writes.append(write)
            for name in auto_stages:
                stage = {
                    **api.stages[name],
                    "DeploymentId": deployment.document["DeploymentId"],
                    "LastUpdatedDate": _now(),
                }
                writes.append(self._stage_write(api, name, stage))
                deployed.append((name, stage, deployment))
        # Automatic deployments no stage serves any more are dropped: every change makes one.
        serving = {
            str(stage.get("DeploymentId")) for name, stage in api.stages.items() if name not in auto_stages
        }
        if deployed:
            serving.add(deployed[0][2].document["DeploymentId"])
        retired = [
            deployment_id
            for deployment_id, old in api.deployments.items()
            if auto_stages and old.document.get("AutoDeployed") and deployment_id not in serving
        ]
        writes += [
            Write(ResourceKey(DEPLOYMENT_KIND, api.account, api.region, f"{api.id}/{deployment_id}"), None)
            for deployment_id in retired
        ]
        await self._store.apply(writes)
        for deployment_id in retired:
            del api.deployments[deployment_id]
        for name, stage, deployment in deployed:
            api.deployments[deployment.document["DeploymentId"]] = deployment
            api.stages[name] = stage

    # APIs ----------------------------------------------------------------------------------------
    async def create_api(self, account: str, region: str, params: dict[str, Any]) -> HttpApi:
        if params.get("ProtocolType") != "HTTP":
            raise bad_request("Lamina serves HTTP APIs (ProtocolType HTTP); WebSocket APIs are not supported")
        if not params.get("Name"):
            raise bad_request("Invalid API name specified")
        api_id = new_api_id()
        document: dict[str, Any] = {
            "ApiId": api_id,
            "Name": params["Name"],
            "ProtocolType": "HTTP",
            "ApiEndpoint": self._endpoint_of(api_id, region),
            "ApiKeySelectionExpression": "$request.header.x-api-key",
            "RouteSelectionExpression": "$request.method $request.path",
            "CreatedDate": _now(),
            "DisableExecuteApiEndpoint": False,
        }
        for member in _API_MEMBERS:
            if params.get(member) is not None:
                document[member] = params[member]
        api = HttpApi(account, region, document)
        if params.get("Target"):
            integration = _integration_document(
                {
                    "IntegrationType": _quick_type(params["Target"]),
                    "IntegrationUri": params["Target"],
                    "PayloadFormatVersion": "2.0",
                    "IntegrationMethod": "ANY",
                }
            )
            api.integrations[integration["IntegrationId"]] = integration
            route_key = params.get("RouteKey") or DEFAULT_ROUTE
            problem = check_route_key(route_key)
            if problem is not None:
                raise bad_request(problem)
            route: dict[str, Any] = {
                "RouteId": new_id(),
                "RouteKey": route_key,
                "Target": f"integrations/{integration['IntegrationId']}",
                "AuthorizationType": "NONE",
                "ApiKeyRequired": False,
            }
            api.routes[route["RouteId"]] = route
            api.stages[DEFAULT_STAGE] = _stage_document({"StageName": DEFAULT_STAGE, "AutoDeploy": True})
        async with self._lock:
            await self._save(api)
            self._apis[api_id] = api
        return api

    async def import_into(
        self,
        account: str,
        region: str,
        api_id: str | None,
        build: Callable[[HttpApi | None], Awaitable[HttpApi]],
    ) -> HttpApi:
        """An imported definition (http_import.py) as an API: `build` makes the draft from the
        current API (None for a new one) and the draft replaces its definition, routes,
        integrations and authorizers in one write (its stages stay; AutoDeploy stages get the new
        routes); both under the service's lock."""
        async with self._lock:
            current = self.api(account, region, api_id) if api_id is not None else None
            draft = await build(current)
            if current is None:
                api = HttpApi(draft.account, draft.region, draft.document)
                api.document["ApiEndpoint"] = self._endpoint_of(api.id, api.region)
            else:
                api = current
                api.document = draft.document
            api.routes, api.integrations, api.authorizers = (
                draft.routes,
                draft.integrations,
                draft.authorizers,
            )
            await self._save(api)
            self._apis[api.id] = api
            return api

    async def update_api(self, api: HttpApi, params: dict[str, Any]) -> HttpApi:
        async with self._lock:
            for member in ("Name", *_API_MEMBERS):
                if params.get(member) is not None:
                    api.document[member] = params[member]
            await self._save(api)
            return api

    async def delete_api(self, api: HttpApi) -> None:
        async with self._lock:
            writes = [Write(ResourceKey(API_KIND, api.account, api.region, api.id), None)]
            writes += [self._stage_write(api, name, None) for name in api.stages]
            writes += [
                Write(ResourceKey(DEPLOYMENT_KIND, api.account, api.region, f"{api.id}/{d}"), None)
                for d in api.deployments
            ]
            await self._store.apply(writes)
            self._apis.pop(api.id, None)

    # routes, integrations, authorizers -----------------------------------------------------------
    async def put_route(
        self, api: HttpApi, params: dict[str, Any], route_id: str | None = None
    ) -> dict[str, Any]:
        async with self._lock:
            route: dict[str, Any] = (
                copy.deepcopy(api.route(route_id))
                if route_id
                else {"RouteId": new_id(), "AuthorizationType": "NONE", "ApiKeyRequired": False}
            )
            for member in _ROUTE_MEMBERS:
                if params.get(member) is not None:
                    route[member] = params[member]
            problem = check_route_key(str(route.get("RouteKey", "")))
            if problem is not None:
                raise bad_request(problem)
            if any(
                other["RouteKey"] == route["RouteKey"] and other["RouteId"] != route["RouteId"]
                for other in api.routes.values()
            ):
                raise conflict(f"Route with key {route['RouteKey']} already exists for this API")
            if route["AuthorizationType"] not in AUTHORIZATION_TYPES:
                raise bad_request(f"Invalid authorization type: {route['AuthorizationType']}")
            if (
                route["AuthorizationType"] in ("JWT", "CUSTOM")
                and route.get("AuthorizerId") not in api.authorizers
            ):
                raise bad_request("Invalid authorizer ID specified")
            target = route.get("Target")
            if target is not None and str(target).removeprefix("integrations/") not in api.integrations:
                raise bad_request(
                    f"Invalid target: {target}. The target must be integrations/<an integration of this API>"
                )
            api.routes[route["RouteId"]] = route
            await self._save(api)
            return route

    async def delete_route(self, api: HttpApi, route_id: str) -> None:
        async with self._lock:
            api.route(route_id)
            del api.routes[route_id]
            await self._save(api)

    async def put_integration(
        self, api: HttpApi, params: dict[str, Any], integration_id: str | None = None
    ) -> dict[str, Any]:
        async with self._lock:
            current = copy.deepcopy(api.integration(integration_id)) if integration_id else {}
            merged = {
                **current,
                **{
                    member: params[member]
                    for member in _INTEGRATION_MEMBERS
                    if params.get(member) is not None
                },
            }
            integration = _integration_document(merged, current.get("IntegrationId"))
            api.integrations[integration["IntegrationId"]] = integration
            await self._save(api)
            return integration

    async def delete_integration(self, api: HttpApi, integration_id: str) -> None:
        async with self._lock:
            api.integration(integration_id)
            if any(route.get("Target") == f"integrations/{integration_id}" for route in api.routes.values()):
                raise conflict(f"Cannot delete Integration {integration_id}: it is the target of a route")
            del api.integrations[integration_id]
            await self._save(api)

    async def put_authorizer(
        self, api: HttpApi, params: dict[str, Any], authorizer_id: str | None = None
    ) -> dict[str, Any]:
        async with self._lock:
            authorizer = (
                copy.deepcopy(api.authorizer(authorizer_id)) if authorizer_id else {"AuthorizerId": new_id()}
            )
            for member in _AUTHORIZER_MEMBERS:
                if params.get(member) is not None:
                    authorizer[member] = params[member]
            _check_authorizer(authorizer)
            api.authorizers[authorizer["AuthorizerId"]] = authorizer
            await self._save(api)
            return authorizer

    async def delete_authorizer(self, api: HttpApi, authorizer_id: str) -> None:
        async with self._lock:
            api.authorizer(authorizer_id)
            if any(route.get("AuthorizerId") == authorizer_id for route in api.routes.values()):
                raise conflict(f"Cannot delete Authorizer {authorizer_id}: a route uses it")
            del api.authorizers[authorizer_id]
            await self._save(api)

    # deployments and stages ----------------------------------------------------------------------
    async def create_deployment(self, api: HttpApi, params: dict[str, Any]) -> HttpDeployment:
        async with self._lock:
            name = params.get("StageName")
            if name is not None:
                stage = api.stage(name)
                if stage.get("AutoDeploy"):
                    raise bad_request(f"Stage {name} has AutoDeploy enabled: it is deployed on every change")
            deployment, write = self._deploy(api, params.get("Description"), auto=False)
            writes = [write]
            if name is not None:
                stage = {
                    **api.stages[name],
                    "DeploymentId": deployment.document["DeploymentId"],
                    "LastUpdatedDate": _now(),
                }
                writes.append(self._stage_write(api, name, stage))
            await self._store.apply(writes)
            api.deployments[deployment.document["DeploymentId"]] = deployment
            if name is not None:
                api.stages[name] = stage
            return deployment

    async def delete_deployment(self, api: HttpApi, deployment_id: str) -> None:
        async with self._lock:
            api.deployment(deployment_id)
            if any(stage.get("DeploymentId") == deployment_id for stage in api.stages.values()):
                raise bad_request("Active stages pointing to this deployment must be moved or deleted")
            await self._store.apply(
                [
                    Write(
                        ResourceKey(DEPLOYMENT_KIND, api.account, api.region, f"{api.id}/{deployment_id}"),
                        None,
                    )
                ]
            )
            del api.deployments[deployment_id]

    async def put_stage(self, api: HttpApi, params: dict[str, Any], creating: bool) -> dict[str, Any]:
        name = params["StageName"]
        if name != DEFAULT_STAGE and (
            not name or len(name) > 128 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
        ):
            raise bad_request("Stage name only allows a-zA-Z0-9_- or is $default")
        async with self._lock:
            if creating and name in api.stages:
                raise conflict(f"Stage {name} already exists")
            current = None if creating else copy.deepcopy(api.stages.get(name))
            if not creating and current is None:
                raise not_found(f"Invalid Stage identifier specified {name}")
            stage = current or _stage_document({"StageName": name})
            for member in _STAGE_MEMBERS:
                if params.get(member) is not None:
                    stage[member] = params[member]
            if stage.get("DeploymentId") is not None:
                api.deployment(stage["DeploymentId"])
            stage["LastUpdatedDate"] = _now()
            api.stages[name] = stage
            if stage.get("AutoDeploy"):
                await self._save(api)
            else:
                await self._store.apply([self._stage_write(api, name, stage)])
            return api.stages[name]

    async def delete_stage(self, api: HttpApi, name: str) -> None:
        async with self._lock:
            api.stage(name)
            await self._store.apply([self._stage_write(api, name, None)])
            del api.stages[name]


def _quick_type(target: str) -> str:
    return "HTTP_PROXY" if target.startswith(("http://", "https://")) else "AWS_PROXY"


def _integration_document(params: dict[str, Any], integration_id: str | None = None) -> dict[str, Any]:
    kind = params.get("IntegrationType")
    if kind not in INTEGRATION_TYPES:
        raise bad_request(
            f"Invalid integration type: {kind}. Lamina's HTTP APIs take AWS_PROXY and HTTP_PROXY"
        )
    uri = str(params.get("IntegrationUri") or "")
    if kind == "AWS_PROXY" and not uri.startswith(("arn:aws:lambda:", "arn:aws:apigateway:")):
        raise bad_request("Invalid integration URI: a Lambda function ARN is required")
    if kind == "HTTP_PROXY":
        problem = check_http_uri(uri)
        if problem is not None:
            raise bad_request(problem)
    method = params.get("IntegrationMethod")
    if method is not None and method not in ROUTE_METHODS:
        raise bad_request(f"Invalid IntegrationMethod: {str(method)[:20]}")
    version = params.get("PayloadFormatVersion") or ("2.0" if kind == "AWS_PROXY" else "1.0")
    if version not in ("1.0", "2.0"):
        raise bad_request("PayloadFormatVersion must be 1.0 or 2.0")
    timeout = int(params.get("TimeoutInMillis") or DEFAULT_TIMEOUT_MS)
    if not 50 <= timeout <= DEFAULT_TIMEOUT_MS:
        raise bad_request("TimeoutInMillis must be between 50 and 30000")
    document = {member: params[member] for member in _INTEGRATION_MEMBERS if params.get(member) is not None}
    document.update(
        IntegrationId=integration_id or new_id(),
        PayloadFormatVersion=version,
        TimeoutInMillis=timeout,
        ConnectionType=params.get("ConnectionType") or "INTERNET",
        IntegrationMethod=params.get("IntegrationMethod") or ("POST" if kind == "AWS_PROXY" else "ANY"),
    )
    return document


def _stage_document(params: dict[str, Any]) -> dict[str, Any]:
    now = _now()
    stage = {
        "StageName": params["StageName"],
        "CreatedDate": now,
        "LastUpdatedDate": now,
        "AutoDeploy": False,
        "StageVariables": {},
        "DefaultRouteSettings": {"DetailedMetricsEnabled": False},
        "RouteSettings": {},
    }
    stage.update({member: params[member] for member in _STAGE_MEMBERS if params.get(member) is not None})
    return stage


def _check_authorizer(authorizer: dict[str, Any]) -> None:
    problem = check_pattern(str(authorizer.get("IdentityValidationExpression") or ""))
    if problem is not None:
        raise bad_request(problem)
    kind = authorizer.get("AuthorizerType")
    if kind not in AUTHORIZER_TYPES:
        raise bad_request("Invalid authorizer type: JWT or REQUEST")
    if not authorizer.get("Name"):
        raise bad_request("Invalid authorizer name specified")
    if kind == "JWT":
        jwt = authorizer.get("JwtConfiguration") or {}
        if not jwt.get("Issuer"):
            raise bad_request("JwtConfiguration.Issuer is required for a JWT authorizer")
        if not authorizer.get("IdentitySource"):
            authorizer["IdentitySource"] = ["$request.header.Authorization"]
    else:
        if not str(authorizer.get("AuthorizerUri", "")).startswith("arn:aws:apigateway:"):
            raise bad_request("Invalid Authorizer URI specified")
        if authorizer.get("AuthorizerPayloadFormatVersion") not in ("1.0", "2.0"):
            raise bad_request("AuthorizerPayloadFormatVersion must be 1.0 or 2.0")
        if authorizer.get("EnableSimpleResponses") and authorizer["AuthorizerPayloadFormatVersion"] != "2.0":
            raise bad_request("Simple responses need AuthorizerPayloadFormatVersion 2.0")
        authorizer.setdefault("AuthorizerResultTtlInSeconds", 0)
        if not 0 <= int(authorizer["AuthorizerResultTtlInSeconds"]) <= 3600:
            raise bad_request("AuthorizerResultTtlInSeconds must be between 0 and 3600")
