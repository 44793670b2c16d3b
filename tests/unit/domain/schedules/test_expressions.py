"""rate(), cron() and at() as EventBridge rules and EventBridge Scheduler accept them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lamina.domain.schedules import (
    AtExpression,
    CronExpression,
    InvalidScheduleExpression,
    RateExpression,
    parse_schedule_expression,
)


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(5 minutes)", timedelta(minutes=5)),
        ("rate(1 hour)", timedelta(hours=1)),
        ("rate(12 hours)", timedelta(hours=12)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(7 days)", timedelta(days=7)),
    ],
)
def test_rates(text: str, period: timedelta) -> None:
    expression = parse_schedule_expression(text)
    assert isinstance(expression, RateExpression)
    assert expression.period == period
    assert str(expression) == text


@pytest.mark.parametrize(
    "text",
    [
        "rate(1 minutes)",  # AWS: singular for 1
        "rate(5 minute)",  # plural otherwise
        "rate(0 minutes)",
        "rate(-1 minutes)",
        "rate(5 weeks)",
        "rate(5 Minutes)",
        "rate(5minutes)",
        "rate(1.5 hours)",
        "rate( 5 minutes)",
        "rate(5 minutes",
        "Rate(5 minutes)",
        "cron(0 10 * * *)",
        "cron(0 10 * * * *)",
        "",
        "every 5 minutes",
        "at(2026-12-05T10:00:00)",  # rules have no one-time schedules
    ],
)
def test_invalid_for_rules(text: str) -> None:
    with pytest.raises(InvalidScheduleExpression):
        parse_schedule_expression(text)


def test_cron_and_at() -> None:
    assert isinstance(parse_schedule_expression("cron(0 10 * * ? *)"), CronExpression)
    expression = parse_schedule_expression("at(2026-12-05T10:30:00)", allow_at=True)
    assert expression == AtExpression(datetime(2026, 12, 5, 10, 30))
    assert str(expression) == "at(2026-12-05T10:30:00)"


@pytest.mark.parametrize(
    "text",
    [
        "at(2026-02-30T10:00:00)",
        "at(2026-12-05T25:00:00)",
        "at(2026-12-05 10:00:00)",
        "at(2026-12-05T10:00)",
        "at()",
    ],
)
def test_invalid_at(text: str) -> None:
    with pytest.raises(InvalidScheduleExpression):
        parse_schedule_expression(text, allow_at=True)
