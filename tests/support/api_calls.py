"""Calling APIs that API Gateway (Lamina's) serves: their execute-api URLs by Host header or by
Lamina's path form, and the functions' permission for API Gateway."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from typing import Any

from tests.support.lambda_calls import create_function
from tests.support.server import RunningServer

ACCOUNT = "000000000000"
REGION = "us-east-1"


def api_function(lambda_client: Any, files: dict[str, str], *, allow: bool = True) -> str:
    """A new function (its ARN) that API Gateway may invoke for any API of the account."""
    name = f"api-{uuid.uuid4().hex[:10]}"
    arn = str(create_function(lambda_client, name, files)["FunctionArn"])
    if allow:
        lambda_client.add_permission(
            FunctionName=name,
            StatementId="apigateway",
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:*",
        )
    return arn


def lambda_uri(function_arn: str) -> str:
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


def call_api(
    server: RunningServer,
    api_id: str,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    by_host: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    """A request to an API's URL: by its execute-api Host name, or by Lamina's path form."""
    port = server.endpoint.rsplit(":", 1)[1]
    if by_host:
        url = f"http://127.0.0.1:{port}{path}"
        headers = {"Host": f"{api_id}.execute-api.{REGION}.localhost:{port}", **(headers or {})}
    else:
        url = f"{server.endpoint}/_lamina/apis/{api_id}{path}"
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
