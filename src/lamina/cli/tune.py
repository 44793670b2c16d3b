"""`lamina tune`: power tuning. Runs a function at several memory sizes against a running server
and prints each size's duration and cost per invocation, recommending the cheapest and the
fastest; the function's memory is set back afterwards."""

from __future__ import annotations

import base64
import json
import os
import re
import statistics
from pathlib import Path
from typing import Annotated, Any

import typer

from lamina.cli.errors import CliError
from lamina.config import DEFAULT_PORT
from lamina.domain.pricing import invocation_cost

_REPORT = re.compile(r"REPORT RequestId: \S+\tDuration: ([\d.]+) ms\tBilled Duration: (\d+) ms")


def report_durations(log_tail: str) -> tuple[float, float] | None:
    """(duration ms, billed ms) from an invocation's log tail, in either log format."""
    for line in log_tail.splitlines():
        found = _REPORT.search(line)
        if found is not None:
            return float(found.group(1)), float(found.group(2))
        if '"platform.report"' in line:
            try:
                metrics = json.loads(line)["record"]["metrics"]
                return float(metrics["durationMs"]), float(metrics["billedDurationMs"])
            except (ValueError, KeyError, TypeError):
                continue
    return None


def _client(endpoint_url: str) -> Any:
    import boto3  # slow to import: only this command needs it
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=endpoint_url,
        region_name=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1",
        config=Config(retries={"max_attempts": 1}, read_timeout=900),
    )


def tune(
    name: Annotated[str, typer.Argument(help="The function to tune.")],
    event: Annotated[Path, typer.Option("--event", help="JSON file with the event to invoke it with.")],
    memory: Annotated[
        str, typer.Option("--memory", help="Memory sizes in MB, comma-separated.")
    ] = "128,256,512,1024",
    invocations: Annotated[int, typer.Option("--invocations", help="Warm invocations per size.", min=1)] = 5,
    endpoint_url: Annotated[
        str, typer.Option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="Lamina's endpoint.")
    ] = f"http://127.0.0.1:{DEFAULT_PORT}",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Duration and cost per invocation at each memory size (credentials: the usual AWS_* variables,
    e.g. from `eval "$(lamina env)"`)."""
    try:
        sizes = [int(part) for part in memory.split(",")]
    except ValueError:
        raise typer.BadParameter(f"--memory must be comma-separated MB, got {memory!r}") from None
    try:
        payload = event.read_bytes()
    except OSError as error:
        raise CliError(
            f"cannot read the event file {event}: {error.strerror}", "give a JSON file with --event"
        ) from None
    client = _client(endpoint_url)
    original = _memory_size(client, name, endpoint_url)
    results = []
    try:
        for size in sizes:
            client.update_function_configuration(FunctionName=name, MemorySize=size)
            client.invoke(FunctionName=name, Payload=payload)  # the cold start is not what we compare
            durations, billed = [], []
            for _ in range(invocations):
                response = client.invoke(FunctionName=name, Payload=payload, LogType="Tail")
                if response.get("FunctionError"):
                    raise CliError(
                        f"{name} failed at {size} MB: {response['Payload'].read()[:300].decode(errors='replace')}",
                        "fix the function or the --event, then tune again",
                    )
                found = report_durations(
                    base64.b64decode(response.get("LogResult", "")).decode(errors="replace")
                )
                if found is not None:
                    durations.append(found[0])
                    billed.append(found[1])
            median_billed = statistics.median(billed) if billed else 0.0
            results.append(
                {
                    "memory_mb": size,
                    "duration_ms": round(statistics.median(durations), 2) if durations else None,
                    "billed_ms": median_billed,
                    "cost_per_invocation": invocation_cost(size, median_billed),
                }
            )
    finally:
        client.update_function_configuration(FunctionName=name, MemorySize=original)
    measured = [row for row in results if row["duration_ms"] is not None]
    cheapest = min(measured, key=lambda row: (row["cost_per_invocation"], row["duration_ms"]), default=None)
    fastest = min(measured, key=lambda row: (row["duration_ms"], row["cost_per_invocation"]), default=None)
    document = {
        "function": name,
        "results": results,
        "cheapest_mb": cheapest["memory_mb"] if cheapest else None,
        "fastest_mb": fastest["memory_mb"] if fastest else None,
    }
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    from lamina.cli.tables import print_table

    print_table(
        f"{name}: median of {invocations} warm invocations per size",
        [
            ("memory MB", "right"),
            ("duration ms", "right"),
            ("billed ms", "right"),
            ("USD per invocation", "right"),
        ],
        [
            [
                str(row["memory_mb"]),
                f"{row['duration_ms']:.2f}" if row["duration_ms"] is not None else "-",
                f"{row['billed_ms']:g}",
                f"{row['cost_per_invocation']:.10f}",
            ]
            for row in results
        ],
    )
    typer.echo(f"cheapest: {document['cheapest_mb']} MB; fastest: {document['fastest_mb']} MB")


def _memory_size(client: Any, name: str, endpoint_url: str) -> int:
    """The function's MemorySize now (set back after tuning); CliError when there is no such
    function (the usual mistakes: the name, or the region or endpoint it lives in)."""
    try:
        return int(client.get_function_configuration(FunctionName=name)["MemorySize"])
    except client.exceptions.ResourceNotFoundException:
        raise CliError(
            f"no function {name} at {endpoint_url} in {client.meta.region_name}",
            "check the name, AWS_DEFAULT_REGION and --endpoint-url (AWS_ENDPOINT_URL)",
        ) from None
