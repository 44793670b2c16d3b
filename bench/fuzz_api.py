"""Fuzz every AWS API operation Lamina serves, from botocore's models (Lamina issue 11).

    python bench/fuzz_api.py                       # 2,000 requests after discovery, seed 1
    python bench/fuzz_api.py --requests 300 --seed 7

Starts its own `lamina server` on 127.0.0.1 (temporary data directory, fixed root credentials) or
attaches to one on this machine with --endpoint (loopback addresses only: this sends thousands of
malformed and badly signed requests, which nobody else's server should receive). First one valid
signed request per operation of each model (Lambda, CloudWatch Logs, IAM, STS, CloudWatch in its
query and JSON protocols) finds which operations the server serves; then --requests cases spread
over those, each a content variant (valid, missing_required, wrong_type, huge_string, bad_enum,
bad_json, bad_encoding, wrong_content_type, extreme_value) and an authentication variant (signed, unsigned,
bad_signature, unknown_key, malformed_authorization, stale_date). See bench/support/fuzzing.py.

Prints one JSON document and a table: responses by status, by variant and by service, every
response ≥ 500 with the request that caused it and the response body, and the health of the
server afterwards. Exits 1 when any response was ≥ 500 or the server is not healthy after.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.packaging import make_zip
from tests.support.server import (
    ACCESS_KEY,
    EXECUTION_ROLE,
    EXECUTION_ROLE_NAME,
    REGION,
    SECRET_KEY,
    running_server,
)

from bench.support.client import HELLO_SOURCE, OWN_RUNTIME
from bench.support.connection import Connection, ConnectionClosed
from bench.support.fuzzing import TARGETS, UNSUPPORTED_MARKER, Case, CaseBuilder, Target, pick_variants
from bench.support.output import emit
from lamina.protocol.model import load_service_model

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
REQUEST_TIMEOUT_S = 30.0
LISTED_FAILURES = 50  # ≥ 500 responses shown in full; all are counted
TRACEBACK_LINES = 30


class Tally:
    """Responses counted by status (or 'closed' / 'timeout' / 'error' when none came back)."""

    def __init__(self) -> None:
        self.by_status: Counter[str] = Counter()
        self.by_variant: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.by_auth: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.by_service: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.failures: list[dict[str, Any]] = []
        self.server_errors = 0

    def add(self, case: Case, outcome: str, body: bytes) -> None:
        self.by_status[outcome] += 1
        self.by_variant[case.variant][outcome] += 1
        self.by_auth[case.auth][outcome] += 1
        self.by_service[case.target.label][outcome] += 1
        if outcome.isdigit() and int(outcome) >= 500:
            self.server_errors += 1
            if len(self.failures) < LISTED_FAILURES:
                self.failures.append(
                    {**case.describe(), "status": outcome, "response": body[:2000].decode("utf-8", "replace")}
                )

    def total(self) -> int:
        return sum(self.by_status.values())


def send(connection: Connection, request: bytes) -> tuple[str, bytes]:
    try:
        status, body = connection.exchange(request)
    except ConnectionClosed:
        return "closed", b""
    except TimeoutError:
        connection.close()
        return "timeout", b""
    except OSError as error:
        connection.close()
        return "error", str(error).encode()
    return str(status), body


def discover(
    connection: Connection, builder: CaseBuilder, targets: tuple[Target, ...], tally: Tally
) -> list[tuple[Target, str]]:
    """Send one valid signed case per model operation; keep the operations the server serves."""
    served: list[tuple[Target, str]] = []
    for target in targets:
        model = load_service_model(target.model)
        for operation in sorted(model.operation_names):
            case = builder.build(target, model, operation, "valid", "signed")
            outcome, body = send(connection, case.request)
            tally.add(case, outcome, body)
            if not (outcome == "400" and UNSUPPORTED_MARKER in body):
                served.append((target, operation))
    return served


FUNCTION = "fuzz-function"
LOG_GROUP = f"/aws/lambda/{FUNCTION}"
LOG_STREAM = "fuzz-stream"
USER = "fuzz-user"
ALARM = "fuzz-alarm"
# Member names of the models -> the resources created before fuzzing, so that most cases name
# something that exists and reach the code past "not found".
KNOWN_NAMES: dict[str, list[str]] = {
    "FunctionName": [FUNCTION, f"arn:aws:lambda:{REGION}:000000000000:function:{FUNCTION}"],
    "Qualifier": ["$LATEST", "1"],
    "logGroupName": [LOG_GROUP],
    "logGroupIdentifier": [LOG_GROUP],
    "logStreamName": [LOG_STREAM],
    "UserName": [USER],
    "RoleName": [EXECUTION_ROLE_NAME],
    "AlarmName": [ALARM],
    "AlarmNames": [ALARM],
    "Namespace": ["AWS/Lambda"],
}


def create_resources(port: int, credentials: tuple[str, str], region: str) -> None:
    """The function, log group and stream, user and alarm that KNOWN_NAMES name, and a REST API
    and an HTTP API (whose generated ids are added to KNOWN_NAMES)."""
    import boto3
    from botocore.config import Config

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name=region,
            aws_access_key_id=credentials[0],
            aws_secret_access_key=credentials[1],
            config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
        )

    functions = client("lambda")
    with suppress(functions.exceptions.ResourceConflictException):
        functions.create_function(
            FunctionName=FUNCTION,
            Runtime=OWN_RUNTIME,
            Role=EXECUTION_ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": HELLO_SOURCE})},
        )
    functions.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)
    with suppress(functions.exceptions.ResourceConflictException):
        functions.publish_version(FunctionName=FUNCTION)
    logs = client("logs")
    with suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=LOG_GROUP)
    with suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=LOG_STREAM)
    iam = client("iam")
    with suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=USER)
    client("cloudwatch").put_metric_alarm(
        AlarmName=ALARM,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    apigateway = client("apigateway")
    api = apigateway.create_rest_api(name="fuzz")
    KNOWN_NAMES["restApiId"] = [api["id"]]
    KNOWN_NAMES["resourceId"] = [api["rootResourceId"]]
    KNOWN_NAMES["parentId"] = [api["rootResourceId"]]
    KNOWN_NAMES["httpMethod"] = ["GET"]
    apigateway.put_method(
        restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET", authorizationType="NONE"
    )
    apigateway.put_integration(
        restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET", type="MOCK"
    )
    http_api = client("apigatewayv2").create_api(Name="fuzz", ProtocolType="HTTP")
    KNOWN_NAMES["ApiId"] = [http_api["ApiId"]]


def health(port: int) -> dict[str, Any]:
    connection = Connection("127.0.0.1", port, 10)
    try:
        status, body = connection.exchange(
            f"GET /_lamina/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        )
    except OSError as error:
        return {"healthy": False, "error": str(error)}
    finally:
        connection.close()
    document: dict[str, Any] = {"status_code": status}
    try:
        document["document"] = json.loads(body)
    except ValueError:
        document["document"] = body[:500].decode("utf-8", "replace")
    document["healthy"] = status == 200 and isinstance(document["document"], dict)
    return document


def tracebacks(log: str) -> list[str]:
    """The server log's tracebacks, each cut to its first lines: the cause of each 5xx."""
    lines = log.splitlines()
    found = []
    for index, line in enumerate(lines):
        if line.startswith("Traceback"):
            found.append("\n".join(lines[max(0, index - 2) : index + TRACEBACK_LINES]))
    return found[:LISTED_FAILURES]


def fuzz(port: int, credentials: tuple[str, str], requests: int, seed: int, region: str) -> dict[str, Any]:
    create_resources(port, credentials, region)
    rng = random.Random(seed)
    builder = CaseBuilder(rng, port, credentials, region, KNOWN_NAMES)
    connection = Connection("127.0.0.1", port, REQUEST_TIMEOUT_S)
    tally = Tally()
    started = time.monotonic()
    try:
        served = discover(connection, builder, TARGETS, tally)
        discovery_requests = tally.total()
        models = {target.model: load_service_model(target.model) for target in TARGETS}
        for _ in range(requests if served else 0):
            target, operation = rng.choice(served)
            variant, auth = pick_variants(rng)
            case = builder.build(target, models[target.model], operation, variant, auth)
            outcome, body = send(connection, case.request)
            tally.add(case, outcome, body)
    finally:
        connection.close()
    served_by_target: defaultdict[str, int] = defaultdict(int)
    for target, _ in served:
        served_by_target[target.label] += 1
    return {
        "seed": seed,
        "requests": tally.total(),
        "discovery_requests": discovery_requests,
        "served_operations": dict(served_by_target),
        "duration_s": round(time.monotonic() - started, 1),
        "by_status": dict(sorted(tally.by_status.items())),
        "by_variant": {
            name: dict(sorted(counts.items())) for name, counts in sorted(tally.by_variant.items())
        },
        "by_auth": {name: dict(sorted(counts.items())) for name, counts in sorted(tally.by_auth.items())},
        "by_service": {
            name: dict(sorted(counts.items())) for name, counts in sorted(tally.by_service.items())
        },
        "responses_5xx": tally.server_errors,
        "failures": tally.failures,
    }


def _classes(counts: dict[str, int]) -> str:
    classes: Counter[str] = Counter()
    for outcome, count in counts.items():
        classes[f"{outcome[0]}xx" if outcome.isdigit() else outcome] += count
    return ", ".join(f"{name} {count}" for name, count in sorted(classes.items()))


def render_table(results: dict[str, Any]) -> str:
    lines = [
        f"Lamina API fuzz: {results['requests']} requests ({results['discovery_requests']} discovery), "
        f"seed {results['seed']}, {results['duration_s']} s",
        "served operations: "
        + ", ".join(f"{name} {count}" for name, count in results["served_operations"].items()),
        "by status: " + ", ".join(f"{status} {count}" for status, count in results["by_status"].items()),
        "",
    ]
    for section in ("by_variant", "by_auth", "by_service"):
        lines.append(section.replace("_", " ") + ":")
        lines.extend(f"  {name:<26}{_classes(counts)}" for name, counts in results[section].items())
    lines.append("")
    for failure in results["failures"]:
        lines.append(
            f"5xx: {failure['service']} {failure['operation']} ({failure['variant']}, {failure['auth']}) -> "
            f"{failure['status']} {failure['response'][:300]}"
        )
    verdict = results["responses_5xx"] == 0 and results["health_after"]["healthy"]
    lines.append(
        f"responses ≥ 500: {results['responses_5xx']}; server healthy after: "
        f"{results['health_after']['healthy']} -> {'PASS' if verdict else 'FAIL'}"
    )
    return "\n".join(lines)


@contextmanager
def server_port(endpoint: str | None, sandbox: str) -> Iterator[tuple[int, Path | None]]:
    """The port to fuzz and, when this script started the server, its log file."""
    if endpoint is not None:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.hostname not in LOOPBACK_HOSTS or parts.port is None:
            raise SystemExit(
                f"--endpoint must be http://127.0.0.1:PORT (a server on this machine), not {endpoint}"
            )
        yield parts.port, None
        return
    with (
        tempfile.TemporaryDirectory(prefix="lamina-fuzz-") as folder,
        running_server(Path(folder) / "data", "--sandbox", sandbox) as server,
    ):
        yield server.port, server.log_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="cases after discovery")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--endpoint", help="fuzz a running server on 127.0.0.1 instead of starting one")
    parser.add_argument("--access-key", default=ACCESS_KEY, help="root credentials of --endpoint's server")
    parser.add_argument("--secret-key", default=SECRET_KEY)
    parser.add_argument("--region", default=REGION)
    parser.add_argument("--sandbox", default="process")
    parser.add_argument("--json-only", action="store_true")
    parser.add_argument("--output", type=Path, help="also write the JSON document here")
    options = parser.parse_args(argv)

    with server_port(options.endpoint, options.sandbox) as (port, log_path):
        results = fuzz(
            port, (options.access_key, options.secret_key), options.requests, options.seed, options.region
        )
        results["health_after"] = health(port)
        if log_path is not None:
            results["server_tracebacks"] = tracebacks(log_path.read_text(errors="replace"))
    emit(results, render_table, options.output, options.json_only)
    return 0 if results["responses_5xx"] == 0 and results["health_after"]["healthy"] else 1


if __name__ == "__main__":
    sys.exit(main())
