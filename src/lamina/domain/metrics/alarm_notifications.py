"""The message a CloudWatch alarm publishes to an SNS topic action (CloudWatch user guide, "Using
Amazon SNS with alarms"): a JSON document of the alarm's new and old state and its trigger, and
the Subject `ALARM: "NAME" in REGION DESCRIPTION`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from lamina.domain.regions import region_description

__all__ = ["alarm_notification"]


def _time(moment: float) -> str:
    """CloudWatch's StateChangeTime: `2026-12-05T10:00:00.000+0000`."""
    return (
        datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{int(moment * 1000) % 1000:03d}+0000"
    )


def alarm_notification(
    record: dict[str, Any], previous_state: str, account: str, region: str, now: float
) -> tuple[str, bytes]:
    """(Subject, Message) for an alarm that just changed state; `record` is the stored alarm."""
    trigger: dict[str, Any] = {
        "MetricName": record.get("MetricName"),
        "Namespace": record.get("Namespace"),
        "StatisticType": "ExtendedStatistic" if record.get("ExtendedStatistic") else "Statistic",
        "Statistic": str(record.get("ExtendedStatistic") or record.get("Statistic") or "").upper(),
        "Unit": record.get("Unit"),
        "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in record.get("Dimensions") or []],
        "Period": record.get("Period"),
        "EvaluationPeriods": record["EvaluationPeriods"],
        "DatapointsToAlarm": record["DatapointsToAlarm"],
        "ComparisonOperator": record["ComparisonOperator"],
        "Threshold": record["Threshold"],
        "TreatMissingData": record["TreatMissingData"],
        "EvaluateLowSampleCountPercentile": "",
    }
    if record.get("Metrics"):
        trigger = {
            key: value
            for key, value in trigger.items()
            if key
            not in ("MetricName", "Namespace", "StatisticType", "Statistic", "Unit", "Dimensions", "Period")
        }
        trigger["Metrics"] = record["Metrics"]
    described_region = region_description(region)
    message = {
        "AlarmName": record["AlarmName"],
        "AlarmDescription": record.get("AlarmDescription"),
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": _time(record.get("AlarmConfigurationUpdatedTimestamp", now)),
        "NewStateValue": record["StateValue"],
        "NewStateReason": record.get("StateReason", ""),
        "StateChangeTime": _time(record.get("StateUpdatedTimestamp", now)),
        "Region": described_region,
        "AlarmArn": record["AlarmArn"],
        "OldStateValue": previous_state,
        "OKActions": record.get("OKActions", []),
        "AlarmActions": record.get("AlarmActions", []),
        "InsufficientDataActions": record.get("InsufficientDataActions", []),
        "Trigger": trigger,
    }
    subject = f'{record["StateValue"]}: "{record["AlarmName"]}" in {described_region}'
    return subject[:100], json.dumps(message).encode()
