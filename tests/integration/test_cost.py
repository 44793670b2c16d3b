"""The billing meter, `lamina cost`, `lamina cost estimate` and `lamina tune`, run as a user runs
them against a real server and its data directory."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.lambda_calls import create_function, log_lines
from tests.support.server import RunningServer, running_server

WORK = {
    "app.py": "import time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 'done'\n"
}


def lamina(*args: str, env: dict[str, str] | None = None) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "lamina", *args], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--json" in args else result.stdout


def billed_ms(response: dict[str, Any]) -> int:
    report = next(line for line in log_lines(response) if line.startswith("REPORT"))
    found = re.search(r"Billed Duration: (\d+) ms", report)
    assert found is not None
    return int(found.group(1))


def test_cost_reports_metered_usage_per_function(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    billed: dict[str, list[int]] = {"small": [], "large": []}
    with running_server(data_dir) as server:
        client = server.client("lambda")
        create_function(client, "small", WORK, MemorySize=128)
        create_function(client, "large", WORK, MemorySize=1024)
        for name, sleeps in (("small", [0, 0, 0.05]), ("large", [0.02, 0])):
            for sleep in sleeps:
                response = client.invoke(
                    FunctionName=name, Payload=json.dumps({"sleep": sleep}), LogType="Tail"
                )
                billed[name].append(billed_ms(response))
    # The server is stopped: everything metered is in the billing store.
    month = datetime.datetime.now(datetime.UTC).strftime("%Y-%m")
    document = lamina("cost", "--data-dir", str(data_dir), "--json")
    assert document["month"] == month
    rows = {row["function"]: row for row in document["functions"]}
    assert rows["small"]["requests"] == 3 and rows["large"]["requests"] == 2
    assert rows["small"]["gb_seconds"] == pytest.approx(sum(billed["small"]) * 128 / 1024 / 1000, abs=1e-6)
    assert rows["large"]["gb_seconds"] == pytest.approx(sum(billed["large"]) * 1024 / 1024 / 1000, abs=1e-6)
    total = document["total"]
    assert total["requests"] == 5
    expected = 5 * 0.20 / 1_000_000 + total["gb_seconds"] * 0.0000166667
    assert total["cost"] == pytest.approx(expected, rel=1e-4)
    assert total["cost_with_free_tier"] == 0.0  # well inside the free tier
    assert total["aws_lambda_cost"] == total["cost"]  # AWS's prices are the default

    dearer = lamina(
        "cost", "--data-dir", str(data_dir), "--json", "--function", "large", "--price-per-gb-second", "0.001"
    )
    assert [row["function"] for row in dearer["functions"]] == ["large"]
    assert dearer["total"]["cost"] > dearer["total"]["aws_lambda_cost"]
    assert lamina("cost", "--data-dir", str(data_dir), "--json", "--month", "2001-01")["functions"] == []
    table = lamina("cost", "--data-dir", str(data_dir))
    assert "small" in table and "with the monthly free tier" in table
    # Which column the --price-* options price is labelled; rich draws the table.
    header = next(line for line in table.splitlines() if "requests" in line)
    assert "cost (your prices)" in header and "cost (AWS prices)" in header


def test_the_pricing_calculator_reproduces_awss_example() -> None:
    budget = lamina("cost", "estimate", "--memory", "128", "--duration", "100", "--budget", "9", "--json")
    assert 21_500_000 < budget["invocations"] < 22_500_000  # "about 22 million executions for $9"
    monthly = lamina(
        "cost", "estimate", "--memory", "512", "--duration", "250", "--invocations", "3000000", "--json"
    )
    # 3M × 0.25 s × 0.5 GB = 375,000 GB-s: $6.25 compute + $0.60 requests; the free tier covers the compute.
    assert monthly["gb_seconds"] == 375_000
    assert monthly["cost"] == pytest.approx(6.25 + 0.60, abs=0.01)
    assert monthly["cost_with_free_tier"] == pytest.approx(0.40, abs=0.001)


def test_tune_compares_memory_sizes_and_restores_the_original(server: RunningServer, tmp_path: Path) -> None:
    client = server.client("lambda")
    create_function(client, "tuned", WORK, MemorySize=192)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"sleep": 0.01}))
    document = lamina(
        "tune",
        "tuned",
        "--event",
        str(event),
        "--memory",
        "128,512",
        "--invocations",
        "2",
        "--json",
        env=server.cli_env(),
    )
    assert [row["memory_mb"] for row in document["results"]] == [128, 512]
    assert all(row["duration_ms"] >= 10 for row in document["results"])
    assert document["cheapest_mb"] == 128  # the same sleep costs less at less memory
    assert document["fastest_mb"] in (128, 512)
    assert client.get_function_configuration(FunctionName="tuned")["MemorySize"] == 192
