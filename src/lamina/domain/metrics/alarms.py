"""Metric alarm evaluation, as CloudWatch documents it ("Evaluating an alarm"): of the last
EvaluationPeriods periods, DatapointsToAlarm breaching ones put the alarm in ALARM; fewer put it in
OK; with no data at all it is INSUFFICIENT_DATA. TreatMissingData decides what an empty period is:
`missing` (skipped; no data at all → INSUFFICIENT_DATA), `notBreaching` (good), `breaching` (bad),
`ignore` (the alarm keeps its state when no period has data).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT_DATA)
COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (lambda value, limit: value >= limit, "greater than or equal to"),
    "GreaterThanThreshold": (lambda value, limit: value > limit, "greater than"),
    "LessThanThreshold": (lambda value, limit: value < limit, "less than"),
    "LessThanOrEqualToThreshold": (lambda value, limit: value <= limit, "less than or equal to"),
}
TREAT_MISSING = ("missing", "notBreaching", "breaching", "ignore")


@dataclass(frozen=True, slots=True)
class Rule:
    threshold: float
    comparison: str
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing: str = "missing"


@dataclass(frozen=True, slots=True)
class Evaluation:
    state: str
    reason: str
    breaching: int
    datapoints: list[tuple[int, float]]  # (period start, value) of the periods that had data


def evaluate(rule: Rule, periods: Sequence[tuple[int, float | None]], current_state: str) -> Evaluation:
    """`periods`: the last EvaluationPeriods periods, oldest first, each (start, value or None)."""
    compare, words = COMPARISONS[rule.comparison]
    present = [(start, value) for start, value in periods if value is not None]
    missing = len(periods) - len(present)
    breaching = sum(1 for _, value in present if compare(value, rule.threshold))
    if rule.treat_missing == "breaching":
        breaching += missing
    needed = rule.datapoints_to_alarm
    if not present and rule.treat_missing in ("missing", "ignore"):
        if rule.treat_missing == "ignore":
            return Evaluation(
                current_state, "No datapoints: the state is kept (TreatMissingData ignore).", 0, []
            )
        return Evaluation(
            INSUFFICIENT_DATA,
            f"Insufficient Data: {len(periods)} datapoint{'s' if len(periods) != 1 else ''} were unknown.",
            0,
            [],
        )
    state = ALARM if breaching >= needed else OK
    shown = ", ".join(f"{value:g} ({_stamp(start)})" for start, value in reversed(present))
    counted = len(present) if rule.treat_missing in ("missing", "ignore") else len(periods)
    verb = "were" if breaching != 1 else "was"
    reason = (
        f"Threshold Crossed: {breaching} out of the last {counted} datapoints [{shown}] {verb} {words} "
        f"the threshold ({rule.threshold:g}) (minimum {needed} datapoint{'s' if needed != 1 else ''} for "
        f"{'OK -> ALARM' if state == ALARM else 'ALARM -> OK'} transition)."
    )
    return Evaluation(state, reason, breaching, present)


def _stamp(start: int) -> str:
    return datetime.fromtimestamp(start, UTC).strftime("%d/%m/%y %H:%M:%S")
