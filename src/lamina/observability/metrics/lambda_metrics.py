"""AWS/Lambda's built-in metrics ("Types of metrics for Lambda functions"), from what the invocation
path reports.

Each invocation is buffered as one tuple on the hot path and turned into datapoints when the
recorder flushes or is read. Dimensions as AWS publishes them: none (the account), FunctionName,
FunctionName + Resource for a version or alias (`name:qualifier`), FunctionName + ExecutedVersion
for invocations of a version or alias. Errors is 1 or 0 per invocation (its Sum counts errors, its
Average is the error rate); Duration is in milliseconds.
"""

from __future__ import annotations

from lamina.domain.metrics.series import Dimensions, MetricKey
from lamina.execution.environment import InvocationResult
from lamina.execution.invocation import InvocationInput
from lamina.execution.observer import ASYNC_EVENT_AGE
from lamina.observability.metrics.recorder import MetricRecorder

NAMESPACE = "AWS/Lambda"
COUNT, MILLISECONDS = "Count", "Milliseconds"


def _qualifier_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[7] if len(parts) > 7 else None


def _dimension_sets(name: str, qualifier: str | None, executed: str | None) -> list[Dimensions]:
    sets: list[Dimensions] = [(), (("FunctionName", name),)]
    if qualifier is not None:
        sets.append((("FunctionName", name), ("Resource", f"{name}:{qualifier}")))
        if executed is not None:
            sets.append((("ExecutedVersion", executed), ("FunctionName", name)))
    return sets


class LambdaMetrics:
    """An InvocationObserver writing AWS/Lambda metrics through the recorder."""

    def __init__(self, recorder: MetricRecorder) -> None:
        self._recorder = recorder
        self._clock = recorder.clock
        # (time, function, qualifier, executed version, duration ms, error, concurrency) per invocation
        self._invocations: list[tuple[float, str, str | None, str, float, bool, int]] = []
        recorder.before_read(self.fold)

    def invoked(self, invocation: InvocationInput, result: InvocationResult, concurrency: int) -> None:
        report = result.report
        self._invocations.append(
            (
                self._clock.now(),
                invocation.config.name,
                _qualifier_of(invocation.invoked_function_arn),
                result.executed_version,
                report.duration_ms if report is not None else 0.0,
                result.function_error is not None,
                concurrency,
            )
        )

    def throttled(self, invocation: InvocationInput) -> None:
        name, qualifier = invocation.config.name, _qualifier_of(invocation.invoked_function_arn)
        for dimensions in _dimension_sets(name, qualifier, None):
            self._recorder.record(MetricKey(NAMESPACE, "Throttles", dimensions), 1.0, unit=COUNT)

    def async_event(self, kind: str, function_name: str, qualifier: str | None, value: float = 1.0) -> None:
        unit = MILLISECONDS if kind == ASYNC_EVENT_AGE else COUNT
        for dimensions in _dimension_sets(function_name, qualifier, None):
            self._recorder.record(MetricKey(NAMESPACE, kind, dimensions), value, unit=unit)

    def fold(self) -> None:
        invocations, self._invocations = self._invocations, []
        record = self._recorder.record
        for moment, name, qualifier, executed, duration, failed, concurrency in invocations:
            for dimensions in _dimension_sets(name, qualifier, executed):
                record(MetricKey(NAMESPACE, "Invocations", dimensions), 1.0, unit=COUNT, timestamp=moment)
                record(
                    MetricKey(NAMESPACE, "Errors", dimensions),
                    1.0 if failed else 0.0,
                    unit=COUNT,
                    timestamp=moment,
                )
                record(
                    MetricKey(NAMESPACE, "Duration", dimensions),
                    duration,
                    unit=MILLISECONDS,
                    timestamp=moment,
                )
                record(
                    MetricKey(NAMESPACE, "ConcurrentExecutions", dimensions),
                    float(concurrency),
                    unit=COUNT,
                    timestamp=moment,
                )
            record(
                MetricKey(NAMESPACE, "UnreservedConcurrentExecutions", ()),
                float(concurrency),
                unit=COUNT,
                timestamp=moment,
            )
