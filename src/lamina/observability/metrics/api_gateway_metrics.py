"""AWS/ApiGateway's built-in metrics ("Amazon API Gateway dimensions and metrics", "CloudWatch
metrics for HTTP APIs"), from what the APIs' endpoint reports.

Each request is buffered as one tuple on the hot path and turned into datapoints when the recorder
flushes or is read. REST APIs: Count, 4XXError, 5XXError (1 or 0 per request), Latency and
IntegrationLatency (ms) by ApiName, and by ApiName + Stage. HTTP APIs: Count, 4xx, 5xx, Latency,
IntegrationLatency by ApiId, and by ApiId + Stage."""

from __future__ import annotations

from dataclasses import dataclass

from lamina.domain.metrics.series import Dimensions, MetricKey
from lamina.observability.metrics.recorder import MetricRecorder

__all__ = ["ApiGatewayMetrics", "ApiRequestFacts"]

NAMESPACE = "AWS/ApiGateway"
COUNT, MILLISECONDS = "Count", "Milliseconds"


@dataclass(frozen=True, slots=True)
class ApiRequestFacts:
    http_api: bool  # an HTTP API (v2): its metric names and dimensions
    api_id: str
    api_name: str
    stage: str
    status: int
    latency_ms: float
    integration_latency_ms: float | None  # None when no integration ran


class ApiGatewayMetrics:
    def __init__(self, recorder: MetricRecorder) -> None:
        self._recorder = recorder
        self._clock = recorder.clock
        self._requests: list[tuple[float, ApiRequestFacts]] = []
        recorder.before_read(self.fold)

    def served(self, facts: ApiRequestFacts) -> None:
        self._requests.append((self._clock.now(), facts))

    def fold(self) -> None:
        requests, self._requests = self._requests, []
        record = self._recorder.record
        for moment, facts in requests:
            if facts.http_api:
                dimension_sets: list[Dimensions] = [
                    (("ApiId", facts.api_id),),
                    (("ApiId", facts.api_id), ("Stage", facts.stage)),
                ]
                client_errors, server_errors = "4xx", "5xx"
            else:
                dimension_sets = [
                    (("ApiName", facts.api_name),),
                    (("ApiName", facts.api_name), ("Stage", facts.stage)),
                ]
                client_errors, server_errors = "4XXError", "5XXError"
            for dimensions in dimension_sets:
                record(MetricKey(NAMESPACE, "Count", dimensions), 1.0, unit=COUNT, timestamp=moment)
                client = 1.0 if 400 <= facts.status < 500 else 0.0
                server = 1.0 if facts.status >= 500 else 0.0
                record(MetricKey(NAMESPACE, client_errors, dimensions), client, unit=COUNT, timestamp=moment)
                record(MetricKey(NAMESPACE, server_errors, dimensions), server, unit=COUNT, timestamp=moment)
                record(
                    MetricKey(NAMESPACE, "Latency", dimensions),
                    facts.latency_ms,
                    unit=MILLISECONDS,
                    timestamp=moment,
                )
                if facts.integration_latency_ms is not None:
                    key = MetricKey(NAMESPACE, "IntegrationLatency", dimensions)
                    record(key, facts.integration_latency_ms, unit=MILLISECONDS, timestamp=moment)
