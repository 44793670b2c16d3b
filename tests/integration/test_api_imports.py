"""OpenAPI definitions imported as API Gateway does, against a real server through boto3:
ImportRestApi and PutRestApi (merge and overwrite) for REST APIs, ImportApi and ReimportApi for
HTTP APIs; the imported APIs answer; faulty definitions change nothing."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.api_calls import api_function, call_api, lambda_uri
from tests.support.server import RunningServer

ECHO = {
    "app.py": (
        "import json\n\n"
        "def handler(event, context):\n"
        "    return {'statusCode': 200, 'body': json.dumps({'path': event.get('rawPath') or event.get('path'),\n"
        "            'params': event.get('pathParameters')})}\n"
    )
}


@pytest.fixture(scope="module")
def apigateway(server: RunningServer) -> Any:
    return server.client("apigateway")


@pytest.fixture(scope="module")
def apigatewayv2(server: RunningServer) -> Any:
    return server.client("apigatewayv2")


@pytest.fixture(scope="module")
def echo_arn(lambda_client: Any) -> str:
    return api_function(lambda_client, ECHO)


def _swagger(uri: str, paths: list[str]) -> str:
    """A Swagger 2.0 definition in YAML: each path a GET through a Lambda proxy integration."""
    lines = ["swagger: '2.0'", "info: {title: imported, version: '1.0'}", "paths:"]
    for path in paths:
        lines += [
            f"  {path}:",
            "    get:",
            "      responses: {'200': {description: ok}}",
            "      x-amazon-apigateway-integration:",
            f"        {{type: aws_proxy, httpMethod: POST, uri: '{uri}'}}",
        ]
    return "\n".join(lines) + "\n"


def _paths(apigateway: Any, api_id: str) -> dict[str, list[str]]:
    items = apigateway.get_resources(restApiId=api_id, embed=["methods"])["items"]
    return {item["path"]: sorted(item.get("resourceMethods", {})) for item in items}


def test_import_rest_api_then_deploy_answers(apigateway: Any, server: RunningServer, echo_arn: str) -> None:
    body = _swagger(lambda_uri(echo_arn), ["/items/{id}", "/health"])
    api = apigateway.import_rest_api(body=body.encode())
    assert api["name"] == "imported" and api["version"] == "1.0"
    assert _paths(apigateway, api["id"]) == {
        "/": [],
        "/items": [],
        "/items/{id}": ["GET"],
        "/health": ["GET"],
    }
    resources = {item["path"]: item for item in apigateway.get_resources(restApiId=api["id"])["items"]}
    integration = apigateway.get_integration(
        restApiId=api["id"], resourceId=resources["/items/{id}"]["id"], httpMethod="GET"
    )
    assert integration["type"] == "AWS_PROXY" and integration["httpMethod"] == "POST"
    apigateway.create_deployment(restApiId=api["id"], stageName="prod")
    status, _, answer = call_api(server, api["id"], "/prod/items/42")
    assert status == 200
    assert json.loads(answer) == {"path": "/items/42", "params": {"id": "42"}}


def test_put_rest_api_merges_by_default_and_overwrites_when_asked(apigateway: Any, echo_arn: str) -> None:
    uri = lambda_uri(echo_arn)
    api = apigateway.import_rest_api(body=_swagger(uri, ["/a"]).encode())
    apigateway.put_rest_api(restApiId=api["id"], body=_swagger(uri, ["/b"]).encode())
    assert set(_paths(apigateway, api["id"])) == {"/", "/a", "/b"}
    apigateway.put_rest_api(restApiId=api["id"], mode="overwrite", body=_swagger(uri, ["/c"]).encode())
    assert set(_paths(apigateway, api["id"])) == {"/", "/c"}
    # the root resource keeps its id: stages and methods on it still name it
    assert apigateway.get_rest_api(restApiId=api["id"])["rootResourceId"] == api["rootResourceId"]


def test_swagger_extensions_authorizers_api_keys_and_responses(apigateway: Any, echo_arn: str) -> None:
    definition = {
        "swagger": "2.0",
        "info": {"title": "secured"},
        "x-amazon-apigateway-binary-media-types": ["image/png"],
        "securityDefinitions": {
            "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
            "sigv4": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "awsSigv4",
            },
            "tokens": {
                "type": "apiKey",
                "name": "Auth",
                "in": "header",
                "x-amazon-apigateway-authtype": "custom",
                "x-amazon-apigateway-authorizer": {
                    "type": "token",
                    "authorizerUri": lambda_uri(echo_arn),
                    "authorizerResultTtlInSeconds": 60,
                },
            },
        },
        "paths": {
            "/keyed": {
                "get": {
                    "security": [{"api_key": []}],
                    "responses": {},
                    "x-amazon-apigateway-integration": {
                        "type": "aws_proxy",
                        "httpMethod": "POST",
                        "uri": lambda_uri(echo_arn),
                    },
                }
            },
            "/signed": {
                "x-amazon-apigateway-any-method": {
                    "security": [{"sigv4": []}],
                    "x-amazon-apigateway-integration": {
                        "type": "aws_proxy",
                        "httpMethod": "POST",
                        "uri": lambda_uri(echo_arn),
                    },
                }
            },
            "/custom": {
                "post": {
                    "security": [{"tokens": []}],
                    "parameters": [{"name": "q", "in": "query", "required": True}],
                    "responses": {"200": {"description": "ok", "headers": {"X-Trace": {"type": "string"}}}},
                    "x-amazon-apigateway-integration": {
                        "type": "mock",
                        "requestTemplates": {"application/json": '{"statusCode": 200}'},
                        "responses": {
                            "default": {
                                "statusCode": "200",
                                "responseParameters": {"method.response.header.X-Trace": "'t'"},
                            },
                            "4\\d{2}": {"statusCode": "400"},
                        },
                    },
                }
            },
        },
    }
    api = apigateway.import_rest_api(body=json.dumps(definition).encode())
    assert api["binaryMediaTypes"] == ["image/png"]
    resources = {item["path"]: item["id"] for item in apigateway.get_resources(restApiId=api["id"])["items"]}
    keyed = apigateway.get_method(restApiId=api["id"], resourceId=resources["/keyed"], httpMethod="GET")
    assert keyed["apiKeyRequired"] is True and keyed["authorizationType"] == "NONE"
    signed = apigateway.get_method(restApiId=api["id"], resourceId=resources["/signed"], httpMethod="ANY")
    assert signed["authorizationType"] == "AWS_IAM"
    custom = apigateway.get_method(restApiId=api["id"], resourceId=resources["/custom"], httpMethod="POST")
    authorizer = apigateway.get_authorizer(restApiId=api["id"], authorizerId=custom["authorizerId"])
    assert custom["authorizationType"] == "CUSTOM"
    assert authorizer["type"] == "TOKEN" and authorizer["identitySource"] == "method.request.header.Auth"
    assert authorizer["authorizerResultTtlInSeconds"] == 60
    assert custom["requestParameters"] == {"method.request.querystring.q": True}
    assert custom["methodResponses"]["200"]["responseParameters"] == {"method.response.header.X-Trace": False}
    responses = custom["methodIntegration"]["integrationResponses"]
    assert "selectionPattern" not in responses["200"]
    assert responses["400"]["selectionPattern"] == "4\\d{2}"
    assert set(custom["methodResponses"]) == {"200", "400"}


def _bad_request(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == "BadRequestException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(caught.value.response["Error"]["Message"])


def test_faulty_definitions_are_refused_and_change_nothing(apigateway: Any, echo_arn: str) -> None:
    uri = lambda_uri(echo_arn)
    for body in (b"{not json", b"[1, 2]", b"openapi: 2.5\npaths: {}\n", b"a: &x [1]\nb: *x\n", b"\xff\xfe"):
        assert "Errors found during import" in _bad_request(
            lambda body=body: apigateway.import_rest_api(body=body)
        )
    api = apigateway.import_rest_api(body=_swagger(uri, ["/kept"]).encode())
    before = _paths(apigateway, api["id"])
    broken = (
        _swagger(uri, ["/fine"]) + "  /bad:\n    get:\n      x-amazon-apigateway-integration: {type: nope}\n"
    )
    message = _bad_request(
        lambda: apigateway.put_rest_api(restApiId=api["id"], mode="overwrite", body=broken.encode())
    )
    assert "integration type" in message
    assert _paths(apigateway, api["id"]) == before
    too_many = _swagger(uri, [f"/p{index}" for index in range(301)])
    assert "300" in _bad_request(lambda: apigateway.import_rest_api(body=too_many.encode()))
    without_integration = "swagger: '2.0'\ninfo: {title: bare}\npaths:\n  /x:\n    get: {}\n"
    assert "No integration" in _bad_request(
        lambda: apigateway.import_rest_api(body=without_integration.encode(), failOnWarnings=True)
    )
    warned = apigateway.import_rest_api(body=without_integration.encode())
    assert warned["warnings"] == ["No integration defined for method GET /x"]


def _openapi(uri: str, routes: dict[str, str]) -> str:
    paths: dict[str, Any] = {}
    for path, method in routes.items():
        paths.setdefault(path, {})[method] = {
            "x-amazon-apigateway-integration": {
                "type": "aws_proxy",
                "httpMethod": "POST",
                "uri": uri,
                "payloadFormatVersion": "2.0",
            }
        }
    return json.dumps(
        {
            "openapi": "3.0.1",
            "info": {"title": "http-imported", "version": "2"},
            "x-amazon-apigateway-cors": {"allowOrigins": ["https://example.com"], "maxAge": 60},
            "tags": [{"name": "team", "x-amazon-apigateway-tag-value": "core"}],
            "paths": paths,
        }
    )


def test_import_and_reimport_http_api(apigatewayv2: Any, server: RunningServer, echo_arn: str) -> None:
    uri = lambda_uri(echo_arn)
    api = apigatewayv2.import_api(
        Body=_openapi(uri, {"/items/{id}": "get", "$default": "x-amazon-apigateway-any-method"})
    )
    assert api["Name"] == "http-imported" and api["ProtocolType"] == "HTTP"
    assert api["CorsConfiguration"] == {"AllowOrigins": ["https://example.com"], "MaxAge": 60}
    assert api["Tags"] == {"team": "core"}
    routes = {route["RouteKey"] for route in apigatewayv2.get_routes(ApiId=api["ApiId"])["Items"]}
    assert routes == {"GET /items/{id}", "$default"}
    apigatewayv2.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    status, _, answer = call_api(server, api["ApiId"], "/items/7")
    assert status == 200 and json.loads(answer)["params"] == {"id": "7"}
    apigatewayv2.reimport_api(ApiId=api["ApiId"], Body=_openapi(uri, {"/other": "post"}))
    routes = {route["RouteKey"] for route in apigatewayv2.get_routes(ApiId=api["ApiId"])["Items"]}
    assert routes == {"POST /other"}
    status, _, _ = call_api(server, api["ApiId"], "/items/7")
    assert status == 404  # the AutoDeploy stage serves the reimported routes
    status, _, answer = call_api(server, api["ApiId"], "/other", method="POST", body=b"{}")
    assert status == 200


def test_http_api_authorizers_from_security_schemes(apigatewayv2: Any, echo_arn: str) -> None:
    definition = {
        "openapi": "3.0.1",
        "info": {"title": "guarded"},
        "components": {
            "securitySchemes": {
                "jwt": {
                    "type": "oauth2",
                    "x-amazon-apigateway-authorizer": {
                        "type": "jwt",
                        "identitySource": "$request.header.Authorization",
                        "jwtConfiguration": {"issuer": "https://issuer.example.com", "audience": ["app"]},
                    },
                },
                "lambda": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Unused",
                    "x-amazon-apigateway-authorizer": {
                        "type": "request",
                        "authorizerUri": lambda_uri(echo_arn),
                        "authorizerPayloadFormatVersion": "2.0",
                        "enableSimpleResponses": True,
                        "identitySource": "$request.header.X-Token, $request.querystring.t",
                    },
                },
            }
        },
        "paths": {
            "/a": {
                "get": {
                    "security": [{"jwt": ["read"]}],
                    "x-amazon-apigateway-integration": {
                        "type": "aws_proxy",
                        "uri": lambda_uri(echo_arn),
                        "payloadFormatVersion": "2.0",
                    },
                }
            },
            "/b": {
                "get": {
                    "security": [{"lambda": []}],
                    "x-amazon-apigateway-integration": {
                        "type": "aws_proxy",
                        "uri": lambda_uri(echo_arn),
                        "payloadFormatVersion": "2.0",
                    },
                }
            },
        },
    }
    api = apigatewayv2.import_api(Body=json.dumps(definition))
    authorizers = {item["Name"]: item for item in apigatewayv2.get_authorizers(ApiId=api["ApiId"])["Items"]}
    assert authorizers["jwt"]["JwtConfiguration"] == {
        "Issuer": "https://issuer.example.com",
        "Audience": ["app"],
    }
    assert authorizers["lambda"]["IdentitySource"] == ["$request.header.X-Token", "$request.querystring.t"]
    routes = {route["RouteKey"]: route for route in apigatewayv2.get_routes(ApiId=api["ApiId"])["Items"]}
    assert routes["GET /a"]["AuthorizationType"] == "JWT"
    assert routes["GET /a"]["AuthorizationScopes"] == ["read"]
    assert routes["GET /b"]["AuthorizationType"] == "CUSTOM"
    assert routes["GET /b"]["AuthorizerId"] == authorizers["lambda"]["AuthorizerId"]


def test_faulty_http_definitions_are_refused(apigatewayv2: Any, echo_arn: str) -> None:
    for body in ("{", "swagger: '2.0'\ninfo: {title: t}\npaths: {}\n", "openapi: 3.0.1\npaths: {}\n"):
        with pytest.raises(ClientError) as caught:
            apigatewayv2.import_api(Body=body)
        assert caught.value.response["Error"]["Code"] == "BadRequestException"
    api = apigatewayv2.import_api(Body=_openapi(lambda_uri(echo_arn), {"/keep": "get"}))
    with pytest.raises(ClientError) as caught:
        apigatewayv2.reimport_api(
            ApiId=api["ApiId"],
            Body=json.dumps(
                {
                    "openapi": "3.0.1",
                    "info": {"title": "x"},
                    "paths": {"/bad": {"get": {"x-amazon-apigateway-integration": {"type": "mock"}}}},
                }
            ),
        )
    assert caught.value.response["Error"]["Code"] == "BadRequestException"
    routes = {route["RouteKey"] for route in apigatewayv2.get_routes(ApiId=api["ApiId"])["Items"]}
    assert routes == {"GET /keep"}


def test_what_the_attack_on_imports_found(apigateway: Any, apigatewayv2: Any, echo_arn: str) -> None:
    uri = lambda_uri(echo_arn)
    # Nesting: refused at once, in JSON and YAML (a parser recursed once per level: minutes, then 500).
    deep_json = '{"swagger":"2.0","info":{"title":"x"},"paths":{},"x":' + "[" * 1500 + "]" * 1500 + "}"
    deep_yaml = 'swagger: "2.0"\ninfo: {title: x}\npaths: {}\nx: ' + "[" * 100_000 + "]" * 100_000
    for body in (deep_json, deep_yaml):
        started = time.monotonic()
        assert "nests more than" in _bad_request(
            lambda body=body: apigateway.import_rest_api(body=body.encode())
        )
        assert time.monotonic() - started < 10
    with pytest.raises(ClientError) as caught:
        apigatewayv2.import_api(Body=deep_json.replace('"swagger":"2.0"', '"openapi":"3.0.1"'))
    assert caught.value.response["Error"]["Code"] == "BadRequestException"

    # Values of the wrong type are refused, not stored to break every later read.
    integration = {"type": "aws_proxy", "httpMethod": "POST", "uri": uri}
    for extra in (
        {"requestTemplates": "abc"},
        {"requestParameters": [1]},
        {"cacheKeyParameters": "abc"},
        {"contentHandling": "ZZZ"},
        {"connectionType": 7},
        {"responses": {"default": {"statusCode": "200", "responseTemplates": "xyz"}}},
    ):
        definition = {
            "swagger": "2.0",
            "info": {"title": "typed"},
            "paths": {"/a": {"get": {"x-amazon-apigateway-integration": {**integration, **extra}}}},
        }
        message = _bad_request(
            lambda definition=definition: apigateway.import_rest_api(body=json.dumps(definition).encode())
        )
        assert "must be" in message, message
    full_width = {
        "swagger": "2.0",
        "info": {"title": "w"},
        "paths": {
            "/a": {
                "get": {
                    "responses": {"２００": {"description": "x"}},
                    "x-amazon-apigateway-integration": integration,
                }
            }
        },
    }
    _bad_request(lambda: apigateway.import_rest_api(body=json.dumps(full_width).encode()))
    long_path = "/" + "/".join(f"p{index}" for index in range(400))
    deep_paths = {
        "swagger": "2.0",
        "info": {"title": "d"},
        "paths": {long_path: {"get": {"x-amazon-apigateway-integration": integration}}},
    }
    assert "300" in _bad_request(lambda: apigateway.import_rest_api(body=json.dumps(deep_paths).encode()))

    for bad in (
        {"tags": 5},
        {"x-amazon-apigateway-cors": {"maxAge": "abc"}},
        {"x-amazon-apigateway-cors": {"allowOrigins": "abc"}},
        {"x-amazon-apigateway-cors": {"maxAge": 10**20}},
    ):
        document = {**json.loads(_openapi(uri, {"/x": "get"})), **bad}
        with pytest.raises(ClientError) as caught:
            apigatewayv2.import_api(Body=json.dumps(document))
        assert caught.value.response["Error"]["Code"] == "BadRequestException", bad
    assert apigatewayv2.get_apis()["Items"] is not None  # every API still reads back


def test_concurrent_merges_all_land_and_a_redefined_authorizer_keeps_its_id(
    apigateway: Any, echo_arn: str
) -> None:
    uri = lambda_uri(echo_arn)
    api = apigateway.import_rest_api(body=_swagger(uri, ["/base"]).encode())

    def merge(index: int) -> None:
        apigateway.put_rest_api(
            restApiId=api["id"], mode="merge", body=_swagger(uri, [f"/c{index}"]).encode()
        )

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(merge, range(20)))
    assert set(_paths(apigateway, api["id"])) == {"/", "/base"} | {f"/c{index}" for index in range(20)}

    def guarded(paths: list[str], ttl: int) -> bytes:
        return json.dumps(
            {
                "swagger": "2.0",
                "info": {"title": "guarded"},
                "securityDefinitions": {
                    "tokens": {
                        "type": "apiKey",
                        "name": "Authorization",
                        "in": "header",
                        "x-amazon-apigateway-authorizer": {
                            "type": "token",
                            "authorizerUri": uri,
                            "authorizerResultTtlInSeconds": ttl,
                        },
                    }
                },
                "paths": {
                    path: {
                        "get": {
                            "security": [{"tokens": []}],
                            "x-amazon-apigateway-integration": {
                                "type": "aws_proxy",
                                "httpMethod": "POST",
                                "uri": uri,
                            },
                        }
                    }
                    for path in paths
                },
            }
        ).encode()

    secured = apigateway.import_rest_api(body=guarded(["/one"], 60))
    first = apigateway.get_authorizers(restApiId=secured["id"])["items"]
    apigateway.put_rest_api(restApiId=secured["id"], mode="merge", body=guarded(["/two"], 120))
    after = apigateway.get_authorizers(restApiId=secured["id"])["items"]
    assert [item["id"] for item in after] == [first[0]["id"]] and after[0][
        "authorizerResultTtlInSeconds"
    ] == 120
    resources = {
        item["path"]: item["id"] for item in apigateway.get_resources(restApiId=secured["id"])["items"]
    }
    one = apigateway.get_method(restApiId=secured["id"], resourceId=resources["/one"], httpMethod="GET")
    assert one["authorizerId"] == first[0]["id"]
