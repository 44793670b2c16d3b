"""API Gateway HTTP APIs (v2) against a real server, through boto3: quick create, routes with
path parameters and greedy paths, payload formats 1.0 and 2.0, named stages and AutoDeploy,
JWT authorizers against a real OpenID issuer (served here, signing with its own RSA key), Lambda
authorizers with simple responses and caching, and CORS."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.api_calls import ACCOUNT, REGION, api_function, call_api, lambda_uri
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer

ECHO = {
    "app.py": (
        "import json\n\n"
        "def handler(event, context):\n"
        "    return {'statusCode': 200, 'headers': {'content-type': 'application/json'},\n"
        "            'body': json.dumps(event)}\n"
    )
}
# Counts its own invocations (one warm environment serves them in turn): the count it returns in
# its context shows whether API Gateway asked it again or used its cached answer.
AUTHORIZER = {
    "app.py": (
        "calls = 0\n\n"
        "def handler(event, context):\n"
        "    global calls\n"
        "    calls += 1\n"
        "    token = event['headers'].get('authorization', '')\n"
        "    return {'isAuthorized': token == 'let-me-in', 'context': {'calls': calls, 'who': 'tester'}}\n"
    )
}


@pytest.fixture(scope="module")
def apigatewayv2(server: RunningServer) -> Any:
    return server.client("apigatewayv2")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """An OpenID issuer: its discovery document and JWKS over HTTP, and tokens signed with its key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        self.jwks = {
            "keys": [
                {
                    "kty": "RSA",
                    "kid": "k1",
                    "alg": "RS256",
                    "use": "sig",
                    "n": b64url(numbers.n.to_bytes(256, "big")),
                    "e": b64url(numbers.e.to_bytes(3, "big")),
                }
            ]
        }
        self.url = ""

    def token(self, **claims: Any) -> str:
        header = b64url(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
        body = {
            "iss": self.url,
            "aud": "my-app",
            "exp": time.time() + 300,
            "sub": "user-1",
            "scope": "read write",
        }
        body.update(claims)
        payload = b64url(json.dumps(body).encode())
        signature = self.key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{b64url(signature)}"


@contextlib.contextmanager
def running_issuer() -> Iterator[Issuer]:
    issuer = Issuer()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                document: dict[str, Any] = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks.json"}
            elif self.path == "/jwks.json":
                document = issuer.jwks
            else:
                self.send_error(404)
                return
            data = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()


def test_quick_create_serves_the_function_at_the_default_stage(
    server: RunningServer, apigatewayv2: Any, lambda_client: Any
) -> None:
    function_arn = api_function(lambda_client, ECHO)
    api = apigatewayv2.create_api(
        Name=f"quick-{uuid.uuid4().hex[:6]}", ProtocolType="HTTP", Target=function_arn
    )
    api_id = api["ApiId"]
    assert api["ApiEndpoint"].startswith(f"http://{api_id}.execute-api.{REGION}.localhost:")
    assert api["RouteSelectionExpression"] == "$request.method $request.path"
    stage = apigatewayv2.get_stage(ApiId=api_id, StageName="$default")
    assert stage["AutoDeploy"] is True and stage["DeploymentId"]
    routes = apigatewayv2.get_routes(ApiId=api_id)["Items"]
    assert [route["RouteKey"] for route in routes] == ["$default"]

    status, _, body = call_api(
        server,
        api_id,
        "/any/path?x=1&x=2",
        method="POST",
        body=b"hi",
        headers={"Content-Type": "text/plain", "Cookie": "a=1; b=2"},
    )
    assert status == 200, body
    event = json.loads(body)
    assert event["version"] == "2.0"
    assert (event["routeKey"], event["rawPath"], event["rawQueryString"]) == (
        "$default",
        "/any/path",
        "x=1&x=2",
    )
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["body"] == "hi"
    context = event["requestContext"]
    assert (context["apiId"], context["stage"], context["accountId"]) == (api_id, "$default", ACCOUNT)
    assert context["http"]["method"] == "POST"


def test_routes_payload_formats_and_named_stages(
    server: RunningServer, apigatewayv2: Any, lambda_client: Any
) -> None:
    function_arn = api_function(lambda_client, ECHO)
    api_id = apigatewayv2.create_api(Name="routes", ProtocolType="HTTP")["ApiId"]
    v2 = apigatewayv2.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn, PayloadFormatVersion="2.0"
    )
    v1 = apigatewayv2.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=lambda_uri(function_arn),
        PayloadFormatVersion="1.0",
    )
    apigatewayv2.create_route(
        ApiId=api_id, RouteKey="GET /items/{id}", Target=f"integrations/{v2['IntegrationId']}"
    )
    apigatewayv2.create_route(
        ApiId=api_id, RouteKey="ANY /legacy/{proxy+}", Target=f"integrations/{v1['IntegrationId']}"
    )
    code = _error(
        apigatewayv2.create_route,
        ApiId=api_id,
        RouteKey="GET /items/{id}",
        Target=f"integrations/{v2['IntegrationId']}",
    )
    assert code == ("ConflictException", 409)
    apigatewayv2.create_stage(ApiId=api_id, StageName="beta", StageVariables={"color": "green"})
    assert call_api(server, api_id, "/beta/items/1")[0] == 404  # the stage has no deployment yet
    apigatewayv2.create_deployment(ApiId=api_id, StageName="beta")

    status, _, body = call_api(server, api_id, "/beta/items/42")
    assert status == 200, body
    event = json.loads(body)
    assert (event["routeKey"], event["pathParameters"], event["stageVariables"]) == (
        "GET /items/{id}",
        {"id": "42"},
        {"color": "green"},
    )
    assert event["requestContext"]["stage"] == "beta"

    status, _, body = call_api(server, api_id, "/beta/legacy/a/b", method="DELETE")
    event = json.loads(body)
    assert event["version"] == "1.0"
    assert (event["httpMethod"], event["resource"], event["pathParameters"]) == (
        "DELETE",
        "/legacy/{proxy+}",
        {"proxy": "a/b"},
    )

    status, _, body = call_api(server, api_id, "/beta/nothing")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    assert call_api(server, api_id, "/beta/items/42", method="POST")[0] == 404
    assert call_api(server, api_id, "/gamma/items/1")[0] == 404


def test_auto_deploy_publishes_every_change(
    server: RunningServer, apigatewayv2: Any, lambda_client: Any
) -> None:
    function_arn = api_function(lambda_client, ECHO)
    api_id = apigatewayv2.create_api(Name="auto", ProtocolType="HTTP")["ApiId"]
    apigatewayv2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    integration = apigatewayv2.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn, PayloadFormatVersion="2.0"
    )
    assert call_api(server, api_id, "/hello")[0] == 404
    apigatewayv2.create_route(
        ApiId=api_id, RouteKey="GET /hello", Target=f"integrations/{integration['IntegrationId']}"
    )
    assert call_api(server, api_id, "/hello")[0] == 200
    deployments = apigatewayv2.get_deployments(ApiId=api_id)["Items"]
    assert deployments and all(item["AutoDeployed"] for item in deployments)


def test_missing_permission_and_failing_functions_answer_500(
    server: RunningServer, apigatewayv2: Any, lambda_client: Any
) -> None:
    function_arn = api_function(lambda_client, {"app.py": "def handler(e, c):\n    raise ValueError('no')\n"})
    api_id = apigatewayv2.create_api(Name="failing", ProtocolType="HTTP", Target=function_arn)["ApiId"]
    status, _, body = call_api(server, api_id, "/")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    locked = api_function(lambda_client, ECHO, allow=False)
    locked_api = apigatewayv2.create_api(Name="locked", ProtocolType="HTTP", Target=locked)["ApiId"]
    assert call_api(server, locked_api, "/")[0] == 500


def test_jwt_authorizer(server: RunningServer, apigatewayv2: Any, lambda_client: Any) -> None:
    function_arn = api_function(lambda_client, ECHO)
    with running_issuer() as issuer:
        api_id = apigatewayv2.create_api(Name="jwt", ProtocolType="HTTP")["ApiId"]
        integration = apigatewayv2.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn, PayloadFormatVersion="2.0"
        )
        authorizer = apigatewayv2.create_authorizer(
            ApiId=api_id,
            Name="jwt",
            AuthorizerType="JWT",
            IdentitySource=["$request.header.Authorization"],
            JwtConfiguration={"Issuer": issuer.url, "Audience": ["my-app"]},
        )
        apigatewayv2.create_route(
            ApiId=api_id,
            RouteKey="GET /me",
            Target=f"integrations/{integration['IntegrationId']}",
            AuthorizationType="JWT",
            AuthorizerId=authorizer["AuthorizerId"],
            AuthorizationScopes=["read"],
        )
        apigatewayv2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

        def status_with(token: str | None) -> int:
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
            return call_api(server, api_id, "/me", headers=headers)[0]

        assert status_with(None) == 401
        assert status_with("not-a-jwt") == 401
        assert status_with(issuer.token(exp=time.time() - 10)) == 401
        assert status_with(issuer.token(aud="someone-else")) == 401
        assert status_with(issuer.token(scope="write")) == 401
        assert status_with(issuer.token(iss="https://elsewhere")) == 401
        forged = issuer.token()
        assert status_with(forged[:-4] + ("AAAA" if not forged.endswith("AAAA") else "BBBB")) == 401
        status, _, body = call_api(
            server, api_id, "/me", headers={"Authorization": f"Bearer {issuer.token()}"}
        )
        assert status == 200, body
        claims = json.loads(body)["requestContext"]["authorizer"]["jwt"]["claims"]
        assert (claims["sub"], claims["aud"]) == ("user-1", "my-app")


def test_lambda_authorizer_with_simple_responses_and_caching(
    server: RunningServer, apigatewayv2: Any, lambda_client: Any
) -> None:
    function_arn = api_function(lambda_client, ECHO)
    authorizer_arn = api_function(lambda_client, AUTHORIZER)
    api_id = apigatewayv2.create_api(Name="lambda-auth", ProtocolType="HTTP")["ApiId"]
    integration = apigatewayv2.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn, PayloadFormatVersion="2.0"
    )
    authorizer = apigatewayv2.create_authorizer(
        ApiId=api_id,
        Name="simple",
        AuthorizerType="REQUEST",
        AuthorizerUri=lambda_uri(authorizer_arn),
        AuthorizerPayloadFormatVersion="2.0",
        EnableSimpleResponses=True,
        IdentitySource=["$request.header.Authorization"],
        AuthorizerResultTtlInSeconds=300,
    )
    apigatewayv2.create_route(
        ApiId=api_id,
        RouteKey="GET /private",
        Target=f"integrations/{integration['IntegrationId']}",
        AuthorizationType="CUSTOM",
        AuthorizerId=authorizer["AuthorizerId"],
    )
    apigatewayv2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    assert call_api(server, api_id, "/private")[0] == 401
    status, _, body = call_api(server, api_id, "/private", headers={"Authorization": "wrong"})
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    contexts = []
    for _ in range(3):
        status, _, body = call_api(server, api_id, "/private", headers={"Authorization": "let-me-in"})
        assert status == 200, body
        contexts.append(json.loads(body)["requestContext"]["authorizer"]["lambda"])
    assert contexts[0]["who"] == "tester"
    assert len({context["calls"] for context in contexts}) == 1  # asked once, then cached


def test_cors_configuration_answers_preflight_and_decorates_responses(
    server: RunningServer, apigatewayv2: Any, lambda_client: Any
) -> None:
    function_arn = api_function(lambda_client, ECHO)
    cors = {
        "AllowOrigins": ["https://app.example"],
        "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["content-type"],
        "MaxAge": 600,
    }
    api_id = apigatewayv2.create_api(
        Name="cors", ProtocolType="HTTP", Target=function_arn, CorsConfiguration=cors
    )["ApiId"]
    status, headers, body = call_api(
        server,
        api_id,
        "/x",
        method="OPTIONS",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert (status, body) == (204, b"")
    lowered = {name.lower(): value for name, value in headers.items()}
    assert lowered["access-control-allow-origin"] == "https://app.example"
    assert lowered["access-control-allow-methods"] == "GET,POST"
    assert lowered["access-control-max-age"] == "600"
    status, headers, _ = call_api(server, api_id, "/x", headers={"Origin": "https://app.example"})
    assert {name.lower(): value for name, value in headers.items()}[
        "access-control-allow-origin"
    ] == "https://app.example"


def test_control_plane_errors(apigatewayv2: Any) -> None:
    assert _error(apigatewayv2.get_api, ApiId="nope123456") == ("NotFoundException", 404)
    api_id = apigatewayv2.create_api(Name="errs", ProtocolType="HTTP")["ApiId"]
    assert _error(apigatewayv2.create_route, ApiId=api_id, RouteKey="FETCH /x") == (
        "BadRequestException",
        400,
    )
    assert _error(
        apigatewayv2.create_integration,
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri="not-an-arn",
    ) == ("BadRequestException", 400)
    assert _error(apigatewayv2.get_stage, ApiId=api_id, StageName="none") == ("NotFoundException", 404)
    assert _error(apigatewayv2.update_stage, ApiId=api_id, StageName="none", Description="x") == (
        "NotFoundException",
        404,
    )
    assert _error(apigatewayv2.create_route, ApiId=api_id, RouteKey="GET /{a}/{a}") == (
        "BadRequestException",
        400,
    )
    assert api_id in {item["ApiId"] for item in apigatewayv2.get_apis()["Items"]}
    apigatewayv2.delete_api(ApiId=api_id)
    assert _error(apigatewayv2.get_api, ApiId=api_id) == ("NotFoundException", 404)


def _error(call: Any, **params: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_iam_authorization_of_a_route(server: RunningServer, apigatewayv2: Any, lambda_client: Any) -> None:
    function_arn = api_function(lambda_client, ECHO)
    api_id = apigatewayv2.create_api(Name="iam", ProtocolType="HTTP")["ApiId"]
    integration = apigatewayv2.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn, PayloadFormatVersion="2.0"
    )
    apigatewayv2.create_route(
        ApiId=api_id,
        RouteKey="GET /signed",
        Target=f"integrations/{integration['IntegrationId']}",
        AuthorizationType="AWS_IAM",
    )
    apigatewayv2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    status, _, body = call_api(server, api_id, "/signed", by_host=False)
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    url = f"{server.endpoint}/_lamina/apis/{api_id}/signed"
    request = AWSRequest(method="GET", url=url, headers={})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "execute-api", REGION).add_auth(request)
    prepared = urllib.request.Request(url, headers=dict(request.headers.items()), method="GET")
    with urllib.request.urlopen(prepared, timeout=30) as response:
        event = json.loads(response.read())
    iam = event["requestContext"]["authorizer"]["iam"]
    assert (iam["accessKey"], iam["accountId"], iam["userArn"]) == (
        ACCESS_KEY,
        ACCOUNT,
        f"arn:aws:iam::{ACCOUNT}:root",
    )
