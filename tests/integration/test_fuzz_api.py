"""`bench/fuzz_api.py`, bounded: a few hundred valid and broken requests (after one per model
operation) from a fixed seed get no response ≥ 500, and the server is healthy afterwards.

The fuzzer starts its own server, so the test runs once: not again in the suite's second pass
(LAMINA_TEST_SANDBOX set), where it would only repeat the same requests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 400
SEED = 11


@pytest.mark.skipif(bool(os.environ.get("LAMINA_TEST_SANDBOX")), reason="runs in the first pass only")
@pytest.mark.timeout(280)
def test_fuzzed_requests_get_no_server_error_and_leave_the_server_healthy() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "bench/fuzz_api.py",
            "--requests",
            str(REQUESTS),
            "--seed",
            str(SEED),
            "--json-only",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=250,
    )
    results = json.loads(completed.stdout)

    # Every model was reached and the server served something of each.
    assert set(results["served_operations"]) == {
        "lambda/rest-json",
        "logs/json",
        "iam/query",
        "sts/query",
        "cloudwatch/query",
        "cloudwatch/json",
        "sqs/json",
        "events/json",
        "scheduler/rest-json",
        "sns/query",
        "ses/query",
        "apigateway/rest-json",
        "apigatewayv2/rest-json",
        "cloudformation/query",
        "cloudcontrol/json",
    }
    assert results["requests"] == results["discovery_requests"] + REQUESTS
    assert sum(results["by_status"].values()) == results["requests"]
    # Broken and badly signed requests were sent and refused (not merely valid ones accepted).
    assert set(results["by_variant"]) >= {"bad_json", "wrong_type", "missing_required", "bad_encoding"}
    assert any(status.startswith("4") for status in results["by_auth"]["unsigned"])
    assert results["failures"] == [], json.dumps(results["failures"][:5], indent=2)
    assert results["responses_5xx"] == 0
    assert results["health_after"]["healthy"], results["health_after"]
    assert completed.returncode == 0, completed.stderr[-4000:]
