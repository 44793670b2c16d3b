"""Who may call a REST API, against a real server through boto3: Lambda authorizers (TOKEN and
REQUEST, their policies evaluated against the method ARN, cached for their TTL, their context
passed on), API keys with usage plans (throttle and quota answered 429), stage throttling, and
IAM authorization (SigV4-signed requests for execute-api:Invoke)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.api_calls import api_function, call_api, lambda_uri
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer

ECHO = {
    "app.py": (
        "import json\n\n"
        "def handler(event, context):\n"
        "    return {'statusCode': 200, 'body': json.dumps(event)}\n"
    )
}
# A TOKEN/REQUEST authorizer: "allow" lets the caller in everywhere, "deny" is an explicit Deny,
# "elsewhere" allows only another resource, "boom" fails; `calls` counts its invocations.
AUTHORIZER = {
    "app.py": (
        "calls = 0\n\n"
        "def handler(event, context):\n"
        "    global calls\n"
        "    calls += 1\n"
        "    token = event.get('authorizationToken') or event['headers'].get('x-token', '')\n"
        "    if token == 'boom':\n"
        "        raise RuntimeError('boom')\n"
        "    if token == 'nobody':\n"
        "        raise Exception('Unauthorized')\n"
        "    arn = event['methodArn']\n"
        "    effect = 'Deny' if token == 'deny' else 'Allow'\n"
        "    resource = arn.rsplit('/', 2)[0] + '/*/nowhere' if token == 'elsewhere' else arn.split('/')[0] + '/*'\n"
        "    return {'principalId': 'user-' + token,\n"
        "            'policyDocument': {'Version': '2012-10-17', 'Statement': [\n"
        "                {'Action': 'execute-api:Invoke', 'Effect': effect, 'Resource': resource}]},\n"
        "            'context': {'calls': calls, 'tier': 'gold'}}\n"
    )
}


@pytest.fixture(scope="module")
def apigateway(server: RunningServer) -> Any:
    return server.client("apigateway")


def proxy_api(
    apigateway: Any, function_arn: str, api: dict[str, Any] | None = None, **method: Any
) -> tuple[str, str]:
    """An API (a new one unless `api` is given) whose /{proxy+} ANY method (with `method`'s
    options) proxies to the function."""
    api = api or apigateway.create_rest_api(name=f"access-{uuid.uuid4().hex[:6]}")
    api_id = api["id"]
    proxy = apigateway.create_resource(restApiId=api_id, parentId=api["rootResourceId"], pathPart="{proxy+}")[
        "id"
    ]
    apigateway.put_method(
        restApiId=api_id, resourceId=proxy, httpMethod="ANY", **{"authorizationType": "NONE", **method}
    )
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=proxy,
        httpMethod="ANY",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=lambda_uri(function_arn),
    )
    return api_id, proxy


def authorized_api(apigateway: Any, function_arn: str, authorizer_arn: str, **authorizer: Any) -> str:
    """An API deployed to `prod` whose /{proxy+} proxies to the function behind a Lambda
    authorizer with `authorizer`'s settings; its id."""
    api = apigateway.create_rest_api(name=f"authorized-{uuid.uuid4().hex[:6]}")
    created = apigateway.create_authorizer(
        restApiId=api["id"], name="authorizer", authorizerUri=lambda_uri(authorizer_arn), **authorizer
    )
    proxy_api(apigateway, function_arn, api=api, authorizationType="CUSTOM", authorizerId=created["id"])
    apigateway.create_deployment(restApiId=api["id"], stageName="prod")
    return str(api["id"])


def test_token_authorizer_policy_cache_and_context(
    server: RunningServer, apigateway: Any, lambda_client: Any
) -> None:
    function_arn = api_function(lambda_client, ECHO)
    authorizer_arn = api_function(lambda_client, AUTHORIZER)
    api_id = authorized_api(
        apigateway,
        function_arn,
        authorizer_arn,
        type="TOKEN",
        identitySource="method.request.header.Authorization",
        identityValidationExpression="[a-z]+",
        authorizerResultTtlInSeconds=300,
    )

    def request(token: str | None, path: str = "/prod/things") -> tuple[int, Any]:
        status, _, body = call_api(
            server, api_id, path, headers={"Authorization": token} if token is not None else {}
        )
        return status, json.loads(body)

    assert request(None) == (401, {"message": "Unauthorized"})
    assert request("NOT-LOWERCASE") == (401, {"message": "Unauthorized"})  # fails the validation expression
    assert request("nobody") == (401, {"message": "Unauthorized"})
    assert request("deny") == (
        403,
        {"Message": "User is not authorized to access this resource with an explicit deny"},
    )
    assert request("elsewhere") == (403, {"Message": "User is not authorized to access this resource"})
    assert request("boom") == (500, {"message": None})

    status, event = request("allow")
    assert status == 200
    context = event["requestContext"]["authorizer"]
    assert (context["principalId"], context["tier"]) == ("user-allow", "gold")
    first_calls = context["calls"]
    # Cached: the authorizer is not asked again for the same token, even on another path.
    status, event = request("allow", "/prod/other/path")
    assert status == 200
    assert event["requestContext"]["authorizer"]["calls"] == first_calls


def test_request_authorizer_without_caching(
    server: RunningServer, apigateway: Any, lambda_client: Any
) -> None:
    function_arn = api_function(lambda_client, ECHO)
    authorizer_arn = api_function(lambda_client, AUTHORIZER)
    api_id = authorized_api(
        apigateway,
        function_arn,
        authorizer_arn,
        type="REQUEST",
        identitySource="method.request.header.X-Token",
        authorizerResultTtlInSeconds=0,
    )
    calls = []
    for _ in range(2):
        status, _, body = call_api(server, api_id, "/prod/x", headers={"X-Token": "allow"})
        assert status == 200
        calls.append(json.loads(body)["requestContext"]["authorizer"]["calls"])
    assert calls[1] == calls[0] + 1  # TTL 0: asked every time


def test_authorizer_needs_its_own_permission(
    server: RunningServer, apigateway: Any, lambda_client: Any
) -> None:
    function_arn = api_function(lambda_client, ECHO)
    authorizer_arn = api_function(lambda_client, AUTHORIZER, allow=False)
    api = apigateway.create_rest_api(name="auth-permission")
    api_id = api["id"]
    authorizer = apigateway.create_authorizer(
        restApiId=api_id,
        name="t",
        type="TOKEN",
        authorizerUri=lambda_uri(authorizer_arn),
        identitySource="method.request.header.Authorization",
    )
    apigateway.put_method(
        restApiId=api_id,
        resourceId=api["rootResourceId"],
        httpMethod="GET",
        authorizationType="CUSTOM",
        authorizerId=authorizer["id"],
    )
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=api["rootResourceId"],
        httpMethod="GET",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=lambda_uri(function_arn),
    )
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    status, headers, body = call_api(server, api_id, "/prod/", headers={"Authorization": "allow"})
    assert (status, json.loads(body)) == (500, {"message": None})
    assert headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"
    name = authorizer_arn.rsplit(":", 1)[1]
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="auth",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/authorizers/{authorizer['id']}",
    )
    assert call_api(server, api_id, "/prod/", headers={"Authorization": "allow"})[0] == 200


def test_api_keys_usage_plan_throttle_and_quota(
    server: RunningServer, apigateway: Any, lambda_client: Any
) -> None:
    function_arn = api_function(lambda_client, ECHO)
    api_id, _ = proxy_api(apigateway, function_arn, apiKeyRequired=True)
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    key = apigateway.create_api_key(name=f"key-{uuid.uuid4().hex[:6]}", enabled=True)
    assert len(key["value"]) >= 20
    assert "value" not in apigateway.get_api_key(apiKey=key["id"])
    assert apigateway.get_api_key(apiKey=key["id"], includeValue=True)["value"] == key["value"]
    plan = apigateway.create_usage_plan(
        name="limited",
        apiStages=[{"apiId": api_id, "stage": "prod"}],
        throttle={"rateLimit": 0.01, "burstLimit": 2},
        quota={"limit": 100, "period": "DAY"},
    )
    # No key, or a key in no plan for this stage: 403.
    assert call_api(server, api_id, "/prod/x")[:1] == (403,)
    assert json.loads(call_api(server, api_id, "/prod/x", headers={"x-api-key": key["value"]})[2]) == {
        "message": "Forbidden"
    }
    apigateway.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    assert [item["id"] for item in apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [
        key["id"]
    ]
    statuses = [call_api(server, api_id, "/prod/x", headers={"x-api-key": key["value"]})[0] for _ in range(4)]
    assert statuses[:2] == [200, 200]  # the burst
    assert statuses[2:] == [429, 429]
    status, _, body = call_api(server, api_id, "/prod/x", headers={"x-api-key": key["value"]})
    assert (status, json.loads(body)) == (429, {"message": "Too Many Requests"})

    # A quota of 1 a day: the next request is over it.
    apigateway.update_usage_plan(
        usagePlanId=plan["id"],
        patchOperations=[
            {"op": "replace", "path": "/throttle/rateLimit", "value": "1000"},
            {"op": "replace", "path": "/throttle/burstLimit", "value": "1000"},
            {"op": "replace", "path": "/quota/limit", "value": "1"},
        ],
    )
    statuses = [call_api(server, api_id, "/prod/x", headers={"x-api-key": key["value"]})[0] for _ in range(2)]
    assert statuses[-1] == 429
    assert json.loads(call_api(server, api_id, "/prod/x", headers={"x-api-key": key["value"]})[2]) == {
        "message": "Limit Exceeded"
    }

    # A disabled key is no key.
    apigateway.update_api_key(
        apiKey=key["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}]
    )
    assert call_api(server, api_id, "/prod/x", headers={"x-api-key": key["value"]})[0] == 403


def test_stage_throttling(server: RunningServer, apigateway: Any, lambda_client: Any) -> None:
    function_arn = api_function(lambda_client, ECHO)
    api_id, _ = proxy_api(apigateway, function_arn)
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    apigateway.update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "0.01"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "1"},
        ],
    )
    statuses = [call_api(server, api_id, "/prod/x")[0] for _ in range(3)]
    assert statuses == [200, 429, 429]


def signed_call(
    server: RunningServer,
    api_id: str,
    path: str,
    credentials: Credentials | None,
    service: str = "execute-api",
) -> tuple[int, Any]:
    url = f"{server.endpoint}/_lamina/apis/{api_id}{path}"
    request = AWSRequest(method="GET", url=url, headers={})
    if credentials is not None:
        SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    prepared = urllib.request.Request(url, headers=dict(request.headers.items()), method="GET")
    try:
        with urllib.request.urlopen(prepared, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_iam_authorization(server: RunningServer, apigateway: Any, lambda_client: Any) -> None:
    function_arn = api_function(lambda_client, ECHO)
    api_id, _ = proxy_api(apigateway, function_arn, authorizationType="AWS_IAM")
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    root = Credentials(ACCESS_KEY, SECRET_KEY)
    assert signed_call(server, api_id, "/prod/x", None) == (403, {"message": "Missing Authentication Token"})
    status, event = signed_call(server, api_id, "/prod/x", root)
    assert status == 200
    assert event["requestContext"]["identity"]["accessKey"] == root.access_key
    assert signed_call(server, api_id, "/prod/x", root, service="lambda")[0] == 403
    wrong = Credentials(root.access_key, "not-the-secret")
    assert signed_call(server, api_id, "/prod/x", wrong)[0] == 403

    # A user without execute-api:Invoke is refused with AWS's message.
    iam = server.client("iam")
    user = f"caller-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    keys = iam.create_access_key(UserName=user)["AccessKey"]
    status, body = signed_call(
        server, api_id, "/prod/x", Credentials(keys["AccessKeyId"], keys["SecretAccessKey"])
    )
    assert status == 403
    assert body["Message"].startswith(
        f"User: arn:aws:iam::000000000000:user/{user} is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:000000000000:{api_id}/prod/GET/x"
    )
    iam.put_user_policy(
        UserName=user,
        PolicyName="invoke",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "execute-api:Invoke",
                        "Resource": f"arn:aws:execute-api:us-east-1:000000000000:{api_id}/*",
                    }
                ],
            }
        ),
    )
    assert (
        signed_call(server, api_id, "/prod/x", Credentials(keys["AccessKeyId"], keys["SecretAccessKey"]))[0]
        == 200
    )


def test_usage_plan_limits_are_checked(apigateway: Any) -> None:
    for quota in (
        {"limit": 1, "period": "DAY", "offset": 1},
        {"limit": 1, "period": "WEEK", "offset": 7},
        {"limit": -1, "period": "DAY"},
    ):
        with pytest.raises(apigateway.exceptions.BadRequestException):
            apigateway.create_usage_plan(name="bad", quota=quota)
    plan = apigateway.create_usage_plan(name="ok", quota={"limit": 5, "period": "WEEK", "offset": 1})
    for value in ("nan", "inf", "-1"):
        with pytest.raises(apigateway.exceptions.BadRequestException):
            apigateway.update_usage_plan(
                usagePlanId=plan["id"],
                patchOperations=[{"op": "replace", "path": "/throttle/rateLimit", "value": value}],
            )
