"""`GET /metrics`: the platform's own numbers in Prometheus's text format, scraped without
credentials, moving as functions run."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.support.server import RunningServer

SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (-?[0-9.]+(?:e[+-]?[0-9]+)?)$")


def scrape(server: RunningServer) -> dict[str, float]:
    with urllib.request.urlopen(f"{server.endpoint}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples: dict[str, float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match is not None, f"not a Prometheus sample: {line!r}"
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    assert types["lamina_invocations_total"] == "counter"
    assert types["lamina_environments"] == "gauge"
    return samples


def test_metrics_count_invocations_cold_starts_and_environments(
    server: RunningServer, deploy: Callable[..., str], lambda_client: Any
) -> None:
    before = scrape(server)
    name = deploy(
        {
            "app.py": "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError()\n    return 1\n"
        }
    )
    lambda_client.invoke(FunctionName=name, Payload=b"{}")
    lambda_client.invoke(FunctionName=name, Payload=b"{}")
    lambda_client.invoke(FunctionName=name, Payload=b'{"fail": true}')
    after = scrape(server)
    assert (
        after['lamina_invocations_total{outcome="success"}']
        - before['lamina_invocations_total{outcome="success"}']
        == 2
    )
    assert (
        after['lamina_invocations_total{outcome="error"}']
        - before['lamina_invocations_total{outcome="error"}']
        == 1
    )
    assert after["lamina_cold_starts_total"] - before["lamina_cold_starts_total"] >= 1
    assert after['lamina_environments{state="idle"}'] >= 1
    assert after["lamina_memory_budget_megabytes"] > 0
    assert "lamina_async_queue_depth" in after and "lamina_store_flush_seconds_count" in after
