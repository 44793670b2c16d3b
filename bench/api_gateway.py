"""API Gateway: a GET through a REST API (a Lambda integration with a body mapping template) and
through an HTTP API (quick create, payload format 2.0), next to a direct Invoke of the same
function in the same run on the same server — the baseline the issue's goals are set against
(latency at most 1.3x, throughput at least 0.7x).

Requests are pre-serialised (the Invoke signed once, as an SDK would sign it) and sent on
keep-alive connections by the lean clients of `bench/support/`:
- latency: sequential requests on one connection, median and p99;
- throughput: closed-loop clients on their own connections for a fixed time.

Prints a JSON document and a table. Run: `python bench/api_gateway.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.api_calls import lambda_uri
from tests.support.lambda_calls import create_function
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer, running_server

from bench.support.client import HELLO_MARKER, HELLO_SOURCE, RequestSigner, invoke_path
from bench.support.connection import Connection
from bench.support.load import ClientScript, run_load
from bench.support.stats import ratio, summarize

FUNCTION = "bench-api"
CLIENTS = 4
TEMPLATE = '{"name": "$input.params(\'name\')", "stage": "$context.stage"}'


def _api_request(port: int, api_id: str, path: str) -> bytes:
    host = f"{api_id}.execute-api.us-east-1.localhost:{port}"
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n".encode()


def _setup(server: RunningServer) -> tuple[str, str]:
    """The function, a REST API and an HTTP API in front of it: (REST API id, HTTP API id)."""
    lambda_client = server.client("lambda")
    function_arn = create_function(lambda_client, FUNCTION, {"app.py": HELLO_SOURCE})["FunctionArn"]
    lambda_client.add_permission(
        FunctionName=FUNCTION,
        StatementId="apigateway",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn="arn:aws:execute-api:us-east-1:000000000000:*",
    )
    apigateway = server.client("apigateway")
    api = apigateway.create_rest_api(name="bench")
    hello = apigateway.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="hello")
    ids = {"restApiId": api["id"], "resourceId": hello["id"], "httpMethod": "GET"}
    apigateway.put_method(**ids, authorizationType="NONE")
    apigateway.put_integration(
        **ids,
        type="AWS",
        integrationHttpMethod="POST",
        uri=lambda_uri(function_arn),
        requestTemplates={"application/json": TEMPLATE},
    )
    apigateway.put_method_response(**ids, statusCode="200")
    apigateway.put_integration_response(**ids, statusCode="200")
    apigateway.create_deployment(restApiId=api["id"], stageName="prod")
    http_api = server.client("apigatewayv2").create_api(
        Name="bench", ProtocolType="HTTP", Target=function_arn
    )
    return api["id"], http_api["ApiId"]


def _latency(port: int, request: bytes, count: int) -> dict[str, float]:
    connection = Connection("127.0.0.1", port)
    connection.open()
    samples = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            status, body = connection.exchange(request)
            elapsed = (time.perf_counter() - started) * 1000
            if status != 200 or HELLO_MARKER not in body:
                raise RuntimeError(f"unexpected answer {status}: {body[:200]!r}")
            samples.append(elapsed)
    finally:
        connection.close()
    return summarize(samples)


def _throughput(port: int, request: bytes, seconds: float) -> dict[str, Any]:
    scripts = [ClientScript((request,), max_requests=10**9, expect=HELLO_MARKER) for _ in range(CLIENTS)]
    result = run_load(port, scripts, duration=seconds)
    return {"per_second": round(result.per_second, 1), "succeeded": result.succeeded, "failed": result.failed}


def measure(server: RunningServer, count: int, seconds: float) -> dict[str, Any]:
    rest_id, http_id = _setup(server)
    port = server.port
    requests = {
        "invoke_baseline": RequestSigner(port, ACCESS_KEY, SECRET_KEY).signed(
            "POST", invoke_path(FUNCTION), b"{}"
        ),
        "rest_api_mapping_template": _api_request(port, rest_id, "/prod/hello?name=bench"),
        "http_api_payload_2": _api_request(port, http_id, "/hello"),
    }
    for request in requests.values():  # warm every path (and the environment) first
        _latency(port, request, 20)
    latency = {name: _latency(port, request, count) for name, request in requests.items()}
    throughput = {name: _throughput(port, request, seconds) for name, request in requests.items()}
    base_latency = latency["invoke_baseline"]["median_ms"]
    base_rate = throughput["invoke_baseline"]["per_second"]
    return {
        "latency": latency,
        "throughput": throughput,
        "ratios": {
            "rest_api_latency_vs_invoke": ratio(
                latency["rest_api_mapping_template"]["median_ms"], base_latency
            ),
            "http_api_latency_vs_invoke": ratio(latency["http_api_payload_2"]["median_ms"], base_latency),
            "rest_api_throughput_vs_invoke": ratio(
                throughput["rest_api_mapping_template"]["per_second"], base_rate
            ),
            "http_api_throughput_vs_invoke": ratio(throughput["http_api_payload_2"]["per_second"], base_rate),
        },
        "goals": {"latency_at_most": 1.3, "throughput_at_least": 0.7},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (smoke test)")
    parser.add_argument("--json-only", action="store_true", help="print the JSON document only")
    options = parser.parse_args()
    count, seconds = (50, 1.0) if options.quick else (1000, 10.0)
    with tempfile.TemporaryDirectory() as folder, running_server(Path(folder) / "data") as server:
        results = measure(server, count, seconds)
    print(json.dumps(results, indent=2))
    if options.json_only:
        return
    print()
    print(f"{'path':<30}{'median ms':>12}{'p99 ms':>10}{'req/s':>10}")
    for name, summary in results["latency"].items():
        rate = results["throughput"][name]["per_second"]
        print(f"{name:<30}{summary['median_ms']:>12}{summary['p99_ms']:>10}{rate:>10}")
    print()
    for name, value in results["ratios"].items():
        print(f"{name:<36}{value}x")


if __name__ == "__main__":
    main()
