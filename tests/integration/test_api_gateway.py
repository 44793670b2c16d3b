"""API Gateway REST APIs against a real server, through boto3 (and the aws CLI): an API built as
the Lambda guide's tutorial builds it (resource, GET method, Lambda integration with a mapping
template, integration responses, deployment, stage), called at its execute-api URL; proxy, MOCK
and HTTP_PROXY integrations; stage variables; error selection patterns; the function's resource
policy deciding whether API Gateway may invoke it; TestInvokeMethod."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.api_calls import ACCOUNT, REGION, api_function, call_api, lambda_uri
from tests.support.cli import run_aws
from tests.support.server import RunningServer, running_server

ECHO = {
    "app.py": (
        "import json\n\n"
        "def handler(event, context):\n"
        "    if isinstance(event, dict) and event.get('fail'):\n"
        "        raise ValueError('Not Found: ' + str(event['fail']))\n"
        "    return {'got': event, 'function': context.function_name}\n"
    )
}
PROXY = {
    "app.py": (
        "import json\n\n"
        "def handler(event, context):\n"
        "    if event['path'].endswith('/malformed'):\n"
        "        return {'statusCode': 200, 'body': {'not': 'a string'}}\n"
        "    if event['path'].endswith('/broken'):\n"
        "        raise RuntimeError('broken')\n"
        "    return {'statusCode': 201, 'headers': {'X-Echo': 'yes'},\n"
        "            'body': json.dumps(event)}\n"
    )
}


@pytest.fixture(scope="module")
def apigateway(server: RunningServer) -> Any:
    return server.client("apigateway")


def function(lambda_client: Any, files: dict[str, str], *, allow: bool = True) -> str:
    return api_function(lambda_client, files, allow=allow)


call = call_api


def error(call_: Any, **params: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call_(**params)
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def tutorial_api(apigateway: Any, function_arn: str) -> tuple[str, str]:
    """The guide's API: /hello GET → the function, non-proxy, with a body mapping template and
    error mapping; returns (api id, /hello's resource id)."""
    api = apigateway.create_rest_api(name=f"tutorial-{uuid.uuid4().hex[:6]}", description="hello")
    api_id = api["id"]
    hello = apigateway.create_resource(restApiId=api_id, parentId=api["rootResourceId"], pathPart="hello")
    apigateway.put_method(
        restApiId=api_id, resourceId=hello["id"], httpMethod="GET", authorizationType="NONE"
    )
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=hello["id"],
        httpMethod="GET",
        type="AWS",
        integrationHttpMethod="POST",
        uri=lambda_uri(function_arn),
        requestTemplates={
            "application/json": (
                '{"name": "$input.params(\'name\')", "stage": "$context.stage", '
                '"greeting": "$stageVariables.greeting", "fail": "$input.params(\'fail\')"}'
            )
        },
    )
    for status in ("200", "404"):
        apigateway.put_method_response(
            restApiId=api_id, resourceId=hello["id"], httpMethod="GET", statusCode=status
        )
    apigateway.put_integration_response(
        restApiId=api_id,
        resourceId=hello["id"],
        httpMethod="GET",
        statusCode="200",
        responseTemplates={
            "application/json": '{"message": "Hello, $input.path(\'$.got.name\')!", "from": "$input.path(\'$.function\')"}'
        },
        responseParameters={"method.response.header.X-Greeting": "'hi'"},
    )
    apigateway.put_integration_response(
        restApiId=api_id,
        resourceId=hello["id"],
        httpMethod="GET",
        statusCode="404",
        selectionPattern="Not Found: .*",
        responseTemplates={
            "application/json": '{"error": "$util.escapeJavaScript($input.path(\'$.errorMessage\'))"}'
        },
    )
    return api_id, hello["id"]


def test_the_tutorial_api_answers_at_its_stage_url(
    server: RunningServer, apigateway: Any, lambda_client: Any
) -> None:
    function_arn = function(lambda_client, ECHO)
    api_id, _ = tutorial_api(apigateway, function_arn)
    deployment = apigateway.create_deployment(
        restApiId=api_id, stageName="prod", variables={"greeting": "howdy"}
    )
    assert apigateway.get_stage(restApiId=api_id, stageName="prod")["deploymentId"] == deployment["id"]

    status, headers, body = call(server, api_id, "/prod/hello?name=Ada")
    assert status == 200, body
    assert json.loads(body) == {"message": "Hello, Ada!", "from": function_arn.rsplit(":", 1)[1]}
    assert headers["X-Greeting"] == "hi"
    assert headers["Content-Type"] == "application/json"
    assert "x-amzn-RequestId" in headers

    # The same through the path form, and what the function was given (the template's output).
    status, _, body = call(server, api_id, "/prod/hello?name=Bob", by_host=False)
    assert (status, json.loads(body)["message"]) == (200, "Hello, Bob!")

    # A function error whose message matches the selection pattern: the 404 response and template.
    status, _, body = call(server, api_id, "/prod/hello?fail=gone")
    assert (status, json.loads(body)) == (404, {"error": "Not Found: gone"})


def test_the_template_sees_stage_and_stage_variables(
    server: RunningServer, apigateway: Any, lambda_client: Any
) -> None:
    function_arn = function(lambda_client, ECHO)
    api_id, hello = tutorial_api(apigateway, function_arn)
    apigateway.put_integration_response(
        restApiId=api_id, resourceId=hello, httpMethod="GET", statusCode="200"
    )  # no template: the function's result passes through
    apigateway.create_deployment(restApiId=api_id, stageName="dev", variables={"greeting": "hello"})
    status, _, body = call(server, api_id, "/dev/hello?name=Eve")
    assert status == 200
    assert json.loads(body)["got"] == {"name": "Eve", "stage": "dev", "greeting": "hello", "fail": ""}

    apigateway.update_stage(
        restApiId=api_id,
        stageName="dev",
        patchOperations=[{"op": "replace", "path": "/variables/greeting", "value": "hey"}],
    )
    status, _, body = call(server, api_id, "/dev/hello")
    assert json.loads(body)["got"]["greeting"] == "hey"


def test_changes_reach_callers_only_when_deployed(
    server: RunningServer, apigateway: Any, lambda_client: Any
) -> None:
    function_arn = function(lambda_client, ECHO)
    api_id, hello = tutorial_api(apigateway, function_arn)
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    apigateway.delete_method(restApiId=api_id, resourceId=hello, httpMethod="GET")
    assert call(server, api_id, "/prod/hello?name=x")[0] == 200
    apigateway.put_method(restApiId=api_id, resourceId=hello, httpMethod="POST", authorizationType="NONE")
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=hello,
        httpMethod="POST",
        type="MOCK",
        requestTemplates={"application/json": '{"statusCode": 200}'},
    )
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    status, _, body = call(server, api_id, "/prod/hello")
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})


def test_lambda_proxy_integration_on_a_greedy_resource(
    server: RunningServer, apigateway: Any, lambda_client: Any
) -> None:
    function_arn = function(lambda_client, PROXY)
    api = apigateway.create_rest_api(name="proxy")
    api_id = api["id"]
    proxy = apigateway.create_resource(restApiId=api_id, parentId=api["rootResourceId"], pathPart="{proxy+}")
    apigateway.put_method(
        restApiId=api_id, resourceId=proxy["id"], httpMethod="ANY", authorizationType="NONE"
    )
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=proxy["id"],
        httpMethod="ANY",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=lambda_uri(function_arn),
    )
    apigateway.create_deployment(restApiId=api_id, stageName="v1", variables={"color": "blue"})

    status, headers, body = call(
        server,
        api_id,
        "/v1/pets/7?kind=cat&kind=dog",
        method="POST",
        body=b'{"a": 1}',
        headers={"Content-Type": "application/json", "X-Custom": "c"},
    )
    assert status == 201, body
    assert headers["X-Echo"] == "yes"
    event = json.loads(body)
    assert event["resource"] == "/{proxy+}"
    assert event["path"] == "/pets/7"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"proxy": "pets/7"}
    assert event["queryStringParameters"] == {"kind": "dog"}
    assert event["multiValueQueryStringParameters"] == {"kind": ["cat", "dog"]}
    assert event["headers"]["x-custom"] == "c"
    assert event["stageVariables"] == {"color": "blue"}
    assert event["body"] == '{"a": 1}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert (context["stage"], context["apiId"], context["accountId"], context["resourcePath"]) == (
        "v1",
        api_id,
        ACCOUNT,
        "/{proxy+}",
    )
    assert context["path"] == "/v1/pets/7"
    assert context["identity"]["sourceIp"] == "127.0.0.1"

    # A result that is not a proxy response, and a function error: 502, as API Gateway answers.
    assert call(server, api_id, "/v1/malformed")[:1] == (502,)
    status, _, body = call(server, api_id, "/v1/broken")
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})


def test_without_the_permission_api_gateway_cannot_invoke(
    server: RunningServer, apigateway: Any, lambda_client: Any
) -> None:
    function_arn = function(lambda_client, ECHO, allow=False)
    api_id, hello = tutorial_api(apigateway, function_arn)
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    status, headers, body = call(server, api_id, "/prod/hello")
    assert (status, json.loads(body)) == (500, {"message": "Internal server error"})
    assert headers["x-amzn-ErrorType"] == "InternalServerErrorException"
    tested = apigateway.test_invoke_method(restApiId=api_id, resourceId=hello, httpMethod="GET")
    assert tested["status"] == 500
    assert "Invalid permissions on Lambda function" in tested["log"]

    # A permission for another API's ARN does not count either.
    name = function_arn.rsplit(":", 1)[1]
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="other",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:otherapi/*/GET/hello",
    )
    assert call(server, api_id, "/prod/hello")[0] == 500
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="this",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*/GET/hello",
    )
    assert call(server, api_id, "/prod/hello?name=Z")[0] == 200


def test_mock_integration_answers_cors_preflight(server: RunningServer, apigateway: Any) -> None:
    api = apigateway.create_rest_api(name="cors")
    api_id, root = api["id"], api["rootResourceId"]
    items = apigateway.create_resource(restApiId=api_id, parentId=root, pathPart="items")["id"]
    # As the console's "Enable CORS" sets it up.
    apigateway.put_method(restApiId=api_id, resourceId=items, httpMethod="OPTIONS", authorizationType="NONE")
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=items,
        httpMethod="OPTIONS",
        type="MOCK",
        requestTemplates={"application/json": '{"statusCode": 200}'},
    )
    allowed = {
        "method.response.header.Access-Control-Allow-Headers": False,
        "method.response.header.Access-Control-Allow-Methods": False,
        "method.response.header.Access-Control-Allow-Origin": False,
    }
    apigateway.put_method_response(
        restApiId=api_id, resourceId=items, httpMethod="OPTIONS", statusCode="200", responseParameters=allowed
    )
    apigateway.put_integration_response(
        restApiId=api_id,
        resourceId=items,
        httpMethod="OPTIONS",
        statusCode="200",
        responseParameters={
            "method.response.header.Access-Control-Allow-Headers": "'Content-Type,X-Amz-Date,Authorization,X-Api-Key'",
            "method.response.header.Access-Control-Allow-Methods": "'GET,OPTIONS'",
            "method.response.header.Access-Control-Allow-Origin": "'*'",
        },
    )
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    status, headers, body = call(
        server,
        api_id,
        "/prod/items",
        method="OPTIONS",
        headers={"Origin": "https://example.com", "Access-Control-Request-Method": "GET"},
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Methods"] == "GET,OPTIONS"
    assert body == b""


@contextlib.contextmanager
def http_backend() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = json.dumps({"path": self.path, "header": self.headers.get("x-custom")}).encode()
            self.send_response(203)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Backend", "1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            sent = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            failing = b"fail" in sent
            data = json.dumps({"received": json.loads(sent), "path": self.path}).encode()
            self.send_response(500 if failing else 201)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Backend-Id", "b-1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=backend.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{backend.server_address[1]}"
    finally:
        backend.shutdown()
        backend.server_close()


def test_http_proxy_integration_passes_the_request_through(server: RunningServer, apigateway: Any) -> None:
    with http_backend() as backend:
        api = apigateway.create_rest_api(name="http-proxy")
        api_id = api["id"]
        proxy = apigateway.create_resource(
            restApiId=api_id, parentId=api["rootResourceId"], pathPart="{proxy+}"
        )["id"]
        apigateway.put_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY", authorizationType="NONE")
        apigateway.put_integration(
            restApiId=api_id,
            resourceId=proxy,
            httpMethod="ANY",
            type="HTTP_PROXY",
            integrationHttpMethod="ANY",
            uri=backend + "/base/{proxy}",
        )
        apigateway.create_deployment(restApiId=api_id, stageName="live")
        status, headers, body = call(server, api_id, "/live/a/b?q=1", headers={"X-Custom": "yes"})
    assert status == 203
    assert headers["X-Backend"] == "1"
    assert json.loads(body) == {"path": "/base/a/b?q=1", "header": "yes"}


def test_unknown_apis_stages_and_paths(server: RunningServer, apigateway: Any) -> None:
    api = apigateway.create_rest_api(name="empty")
    apigateway.put_method(
        restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET", authorizationType="NONE"
    )
    apigateway.put_integration(
        restApiId=api["id"],
        resourceId=api["rootResourceId"],
        httpMethod="GET",
        type="MOCK",
        requestTemplates={"application/json": '{"statusCode": 200}'},
    )
    apigateway.put_method_response(
        restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET", statusCode="200"
    )
    apigateway.put_integration_response(
        restApiId=api["id"],
        resourceId=api["rootResourceId"],
        httpMethod="GET",
        statusCode="200",
        responseTemplates={"application/json": '{"ok": true}'},
    )
    apigateway.create_deployment(restApiId=api["id"], stageName="prod")
    assert call(server, api["id"], "/prod/")[:1] == (200,)
    assert json.loads(call(server, api["id"], "/prod")[2]) == {"ok": True}
    assert json.loads(call(server, "nosuchapi0", "/prod/")[2]) == {"message": "Forbidden"}
    status, _, body = call(server, api["id"], "/staging/")
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    status, headers, body = call(server, api["id"], "/prod/nothing/here")
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert call(server, api["id"], "/prod/", method="DELETE")[0] == 403


def test_control_plane_errors_answer_as_api_gateway(apigateway: Any) -> None:
    code, message, status = error(apigateway.get_rest_api, restApiId="missing123")
    assert (code, message, status) == (
        "NotFoundException",
        f"Invalid API identifier specified {ACCOUNT}:missing123",
        404,
    )
    api = apigateway.create_rest_api(name="errors")
    api_id, root = api["id"], api["rootResourceId"]
    apigateway.create_resource(restApiId=api_id, parentId=root, pathPart="a")
    code, message, status = error(apigateway.create_resource, restApiId=api_id, parentId=root, pathPart="a")
    assert (code, status) == ("ConflictException", 409)
    assert message == "Another resource with the same parent already has this name: a"
    assert error(apigateway.get_method, restApiId=api_id, resourceId=root, httpMethod="GET")[:2] == (
        "NotFoundException",
        "Invalid Method identifier specified",
    )
    code, message, _ = error(apigateway.create_deployment, restApiId=api_id, stageName="x")
    assert (code, message) == ("BadRequestException", "The REST API doesn't contain any methods")
    apigateway.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    code, message, _ = error(apigateway.create_deployment, restApiId=api_id, stageName="x")
    assert (code, message) == ("BadRequestException", "No integration defined for method")
    code, _, status = error(
        apigateway.update_rest_api,
        restApiId=api_id,
        patchOperations=[{"op": "replace", "path": "/nonsense", "value": "1"}],
    )
    assert (code, status) == ("BadRequestException", 400)
    updated = apigateway.update_rest_api(
        restApiId=api_id,
        patchOperations=[
            {"op": "replace", "path": "/description", "value": "new"},
            {"op": "add", "path": "/binaryMediaTypes/image~1png"},
        ],
    )
    assert (updated["description"], updated["binaryMediaTypes"]) == ("new", ["image/png"])
    resources = apigateway.get_resources(restApiId=api_id, embed=["methods"])["items"]
    assert sorted(item["path"] for item in resources) == ["/", "/a"]
    root_item = next(item for item in resources if item["path"] == "/")
    assert root_item["resourceMethods"]["GET"]["authorizationType"] == "NONE"
    assert api_id in {item["id"] for item in apigateway.get_rest_apis(limit=500)["items"]}
    # What could never be served is refused when it is set (BadRequestException, not a later 500).
    apigateway.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
    apigateway.create_deployment(restApiId=api_id, stageName="s")
    refused = [
        (
            apigateway.put_integration,
            {
                "restApiId": api_id,
                "resourceId": root,
                "httpMethod": "GET",
                "type": "HTTP_PROXY",
                "integrationHttpMethod": "GET",
                "uri": "http://127.0.0.1:99999/",
            },
        ),
        (
            apigateway.update_integration,
            {
                "restApiId": api_id,
                "resourceId": root,
                "httpMethod": "GET",
                "patchOperations": [{"op": "replace", "path": "/timeoutInMillis", "value": "-1"}],
            },
        ),
        (
            apigateway.update_stage,
            {
                "restApiId": api_id,
                "stageName": "s",
                "patchOperations": [{"op": "remove", "path": "/deploymentId"}],
            },
        ),
        (
            apigateway.update_stage,
            {
                "restApiId": api_id,
                "stageName": "s",
                "patchOperations": [{"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "nan"}],
            },
        ),
        (
            apigateway.test_invoke_method,
            {"restApiId": api_id, "resourceId": root, "httpMethod": "GET", "pathWithQueryString": "//["},
        ),
        (
            apigateway.create_authorizer,
            {
                "restApiId": api_id,
                "name": "x",
                "type": "TOKEN",
                "authorizerUri": lambda_uri(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"),
                "identitySource": "method.request.header.Authorization",
                "identityValidationExpression": "((",
            },
        ),
        (
            apigateway.create_resource,
            {
                "restApiId": api_id,
                "parentId": apigateway.create_resource(restApiId=api_id, parentId=root, pathPart="{id}")[
                    "id"
                ],
                "pathPart": "{id}",
            },
        ),
    ]
    for operation, params in refused:
        assert error(operation, **params)[::2] == ("BadRequestException", 400), operation
    apigateway.delete_rest_api(restApiId=api_id)
    assert error(apigateway.get_rest_api, restApiId=api_id)[0] == "NotFoundException"


def test_test_invoke_method_answers_as_aws(
    server: RunningServer, apigateway: Any, lambda_client: Any
) -> None:
    function_arn = function(lambda_client, ECHO)
    api_id, hello = tutorial_api(apigateway, function_arn)
    tested = apigateway.test_invoke_method(
        restApiId=api_id,
        resourceId=hello,
        httpMethod="GET",
        pathWithQueryString="/hello?name=Test",
        stageVariables={"greeting": "yo"},
    )
    assert tested["status"] == 200
    assert json.loads(tested["body"])["message"] == "Hello, Test!"
    assert tested["headers"]["X-Greeting"] == "hi"
    log = tested["log"]
    assert log.startswith("Execution log for request ")
    assert "Endpoint request body after transformations: " in log
    assert '"greeting": "yo"' in log and '"stage": "test-invoke-stage"' in log
    assert "Method completed with status: 200" in log

    # The aws CLI's test-invoke-method prints the same document.
    printed = run_aws(
        server,
        "apigateway",
        "test-invoke-method",
        "--rest-api-id",
        api_id,
        "--resource-id",
        hello,
        "--http-method",
        "GET",
        "--path-with-query-string",
        "/hello?name=Cli",
    )
    assert printed["status"] == 200
    assert json.loads(printed["body"])["message"] == "Hello, Cli!"
    assert "Method completed with status: 200" in printed["log"]


def test_execution_and_access_logs_and_metrics(
    server: RunningServer, apigateway: Any, lambda_client: Any
) -> None:
    function_arn = function(lambda_client, ECHO)
    api_id, _ = tutorial_api(apigateway, function_arn)
    api_name = apigateway.get_rest_api(restApiId=api_id)["name"]
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    access_group = f"/apigw/access-{api_id}"
    apigateway.update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[
            {"op": "replace", "path": "/*/*/logging/loglevel", "value": "INFO"},
            {
                "op": "replace",
                "path": "/accessLogSettings/destinationArn",
                "value": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{access_group}",
            },
            {
                "op": "replace",
                "path": "/accessLogSettings/format",
                "value": "$context.requestId $context.httpMethod $context.status $context.missing",
            },
        ],
    )
    assert call(server, api_id, "/prod/hello?name=Log")[0] == 200
    assert call(server, api_id, "/prod/nowhere")[0] == 403
    logs = server.client("logs")
    cloudwatch = server.client("cloudwatch")
    deadline = time.monotonic() + 20
    execution: list[str] = []
    access: list[str] = []
    counts: list[float] = []
    while time.monotonic() < deadline:
        with contextlib.suppress(ClientError):
            execution = [
                e["message"]
                for e in logs.filter_log_events(logGroupName=f"API-Gateway-Execution-Logs_{api_id}/prod")[
                    "events"
                ]
            ]
            access = [e["message"] for e in logs.filter_log_events(logGroupName=access_group)["events"]]
        statistics = cloudwatch.get_metric_statistics(
            Namespace="AWS/ApiGateway",
            MetricName="Count",
            Dimensions=[{"Name": "ApiName", "Value": api_name}, {"Name": "Stage", "Value": "prod"}],
            StartTime=time.time() - 600,
            EndTime=time.time() + 60,
            Period=60,
            Statistics=["Sum"],
        )
        counts = [point["Sum"] for point in statistics["Datapoints"]]
        if (
            any("Method completed with status: 200" in line for line in execution)
            and len(access) >= 2
            and sum(counts) >= 2
        ):
            break
        time.sleep(0.5)
    assert any("Endpoint request body after transformations" in line for line in execution), execution
    assert all(line.startswith("(") for line in execution)  # each line names its request id
    assert sorted(line.split(" ", 1)[1] for line in access) == ["GET 200 -", "GET 403 -"]
    assert sum(counts) == 2
    errors = cloudwatch.get_metric_statistics(
        Namespace="AWS/ApiGateway",
        MetricName="4XXError",
        Dimensions=[{"Name": "ApiName", "Value": api_name}, {"Name": "Stage", "Value": "prod"}],
        StartTime=time.time() - 600,
        EndTime=time.time() + 60,
        Period=60,
        Statistics=["Sum"],
    )
    assert sum(point["Sum"] for point in errors["Datapoints"]) == 1


def test_http_integration_maps_request_and_response(server: RunningServer, apigateway: Any) -> None:
    """A non-proxy HTTP integration: the request template makes the backend's body, the status
    code picks the integration response, whose template and header mappings make the answer."""
    with http_backend() as backend:
        api = apigateway.create_rest_api(name="http")
        api_id = api["id"]
        orders = apigateway.create_resource(
            restApiId=api_id, parentId=api["rootResourceId"], pathPart="orders"
        )["id"]
        ids = {"restApiId": api_id, "resourceId": orders, "httpMethod": "GET"}
        apigateway.put_method(**ids, authorizationType="NONE")
        apigateway.put_integration(
            **ids,
            type="HTTP",
            integrationHttpMethod="POST",
            uri=backend + "/orders",
            requestTemplates={
                "application/json": '{"item": "$input.params(\'item\')", "stage": "$context.stage"}'
            },
        )
        for status in ("200", "502"):
            apigateway.put_method_response(**ids, statusCode=status)
        apigateway.put_integration_response(
            **ids,
            statusCode="200",
            selectionPattern="2\\d{2}",
            responseTemplates={"application/json": '{"ordered": "$input.path(\'$.received.item\')"}'},
            responseParameters={
                "method.response.header.X-Backend": "integration.response.header.X-Backend-Id"
            },
        )
        apigateway.put_integration_response(
            **ids,
            statusCode="502",
            selectionPattern="5\\d{2}",
            responseTemplates={"application/json": '{"error": "backend failed"}'},
        )
        apigateway.create_deployment(restApiId=api_id, stageName="live")
        status, headers, body = call(server, api_id, "/live/orders?item=tea")
        assert (status, json.loads(body)) == (200, {"ordered": "tea"})
        assert headers["X-Backend"] == "b-1"
        status, _, body = call(server, api_id, "/live/orders?item=fail")
        assert (status, json.loads(body)) == (502, {"error": "backend failed"})


def test_authorizer_context_reaches_mapping_templates(
    server: RunningServer, apigateway: Any, lambda_client: Any
) -> None:
    function_arn = function(lambda_client, ECHO)
    authorizer_arn = function(
        lambda_client,
        {
            "app.py": (
                "def handler(event, context):\n"
                "    return {'principalId': 'alice', 'context': {'tier': 'gold'}, 'policyDocument': {\n"
                "        'Version': '2012-10-17', 'Statement': [{'Action': 'execute-api:Invoke',\n"
                "        'Effect': 'Allow', 'Resource': event['methodArn']}]}}\n"
            )
        },
    )
    api_id, hello = tutorial_api(apigateway, function_arn)
    authorizer = apigateway.create_authorizer(
        restApiId=api_id,
        name="a",
        type="TOKEN",
        authorizerUri=lambda_uri(authorizer_arn),
        identitySource="method.request.header.Authorization",
        authorizerResultTtlInSeconds=0,
    )
    apigateway.update_method(
        restApiId=api_id,
        resourceId=hello,
        httpMethod="GET",
        patchOperations=[
            {"op": "replace", "path": "/authorizationType", "value": "CUSTOM"},
            {"op": "replace", "path": "/authorizerId", "value": authorizer["id"]},
        ],
    )
    apigateway.update_integration(
        restApiId=api_id,
        resourceId=hello,
        httpMethod="GET",
        patchOperations=[
            {
                "op": "replace",
                "path": "/requestTemplates/application~1json",
                "value": '{"name": "$context.authorizer.principalId", "tier": "$context.authorizer.tier"}',
            }
        ],
    )
    apigateway.put_integration_response(
        restApiId=api_id, resourceId=hello, httpMethod="GET", statusCode="200"
    )
    apigateway.create_deployment(restApiId=api_id, stageName="prod")
    assert call(server, api_id, "/prod/hello")[0] == 401
    status, _, body = call(server, api_id, "/prod/hello", headers={"Authorization": "token"})
    assert status == 200, body
    assert json.loads(body)["got"] == {"name": "alice", "tier": "gold"}


def test_apis_survive_a_kill_of_the_server(tmp_path: Path) -> None:
    """Definitions are in the store when the call that made them answers: a SIGKILL loses none."""
    data = tmp_path / "data"
    with running_server(data) as first:
        lambda_client = first.client("lambda")
        function_arn = function(lambda_client, ECHO)
        apigateway = first.client("apigateway")
        api_id, _ = tutorial_api(apigateway, function_arn)
        apigateway.create_deployment(restApiId=api_id, stageName="prod", variables={"greeting": "kept"})
        key = apigateway.create_api_key(name="k", enabled=True)
        http_api = first.client("apigatewayv2").create_api(
            Name="kept", ProtocolType="HTTP", Target=function_arn
        )
        assert call(first, api_id, "/prod/hello?name=Before")[0] == 200
        first.process.kill()
        first.process.wait()
    with running_server(data) as second:
        status, _, body = call(second, api_id, "/prod/hello?name=After")
        assert (status, json.loads(body)["message"]) == (200, "Hello, After!")
        assert second.client("apigateway").get_api_key(apiKey=key["id"])["name"] == "k"
        assert call(second, http_api["ApiId"], "/x")[0] == 200
