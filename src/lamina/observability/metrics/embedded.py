"""The Embedded Metric Format: a JSON log line with an `_aws` member names metrics whose values are
the line's own members (CloudWatch Logs: "Specification: Embedded metric format").

    {"_aws": {"Timestamp": 1700000000000, "CloudWatchMetrics": [{"Namespace": "shop",
      "Dimensions": [["Service"]], "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]}]},
     "Service": "cart", "Latency": 42}

records Latency = 42 in namespace `shop` with dimension Service=cart. Values may be lists. Lines
that do not follow the format are ignored: they stay ordinary log events.
"""

from __future__ import annotations

import json
from typing import Any

from lamina.domain.metrics.series import MetricKey
from lamina.observability.metrics.recorder import MetricRecorder

MARKER = '"_aws"'


def record_embedded(recorder: MetricRecorder, message: str, fallback_ms: int) -> int:
    """Record the metrics of one log line; returns how many values."""
    try:
        document: Any = json.loads(message)
        directive = document["_aws"]
        timestamp_ms = directive.get("Timestamp", fallback_ms)
        blocks = directive["CloudWatchMetrics"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return 0
    recorded = 0
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict) or not isinstance(block.get("Namespace"), str):
            continue
        dimension_sets = block.get("Dimensions") or [[]]
        for metric in block.get("Metrics") or []:
            if not isinstance(metric, dict) or not isinstance(metric.get("Name"), str):
                continue
            raw = document.get(metric["Name"])
            values = raw if isinstance(raw, list) else [raw]
            numbers = [
                float(value)
                for value in values
                if isinstance(value, int | float) and not isinstance(value, bool)
            ]
            for names in dimension_sets if isinstance(dimension_sets, list) else []:
                try:
                    dimensions = tuple(sorted((str(name), str(document[name])) for name in names))
                except (KeyError, TypeError):
                    continue
                key = MetricKey(block["Namespace"], metric["Name"], dimensions)
                for number in numbers:
                    recorder.record(
                        key, number, unit=metric.get("Unit"), timestamp=float(timestamp_ms) / 1000
                    )
                    recorded += 1
    return recorded
