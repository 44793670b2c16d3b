"""Metric alarms (CloudWatch API: PutMetricAlarm, DescribeAlarms, DescribeAlarmHistory, DeleteAlarms,
SetAlarmState, Enable/DisableAlarmActions) and their evaluation.

Every alarm is evaluated against its last EvaluationPeriods complete periods (domain/metrics/alarms.py)
a few times a minute, and at once whenever a fake clock moves. A state change is written to the
alarm's history and runs the actions of the new state: a Lambda function is invoked asynchronously
as `lambda.alarms.cloudwatch.amazonaws.com` with the alarm's ARN as source, so the function's
resource policy must allow it (CloudWatch user guide, "Lambda alarm actions").
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from lamina.domain.metrics.aggregate import percentile_of
from lamina.domain.metrics.alarm_notifications import alarm_notification
from lamina.domain.metrics.alarms import (
    COMPARISONS,
    INSUFFICIENT_DATA,
    STATES,
    TREAT_MISSING,
    Rule,
    evaluate,
)
from lamina.domain.metrics.series import MetricKey, dimensions_of
from lamina.errors import AwsError
from lamina.observability.logs.names import encode_token, token_name, token_offset
from lamina.observability.metrics.service import MetricsService, check_period, epoch, invalid_next_token
from lamina.store.ports import AlarmStore
from lamina.triggers.service_invoker import ServiceInvoker

_log = logging.getLogger(__name__)
ALARMS_SERVICE = "lambda.alarms.cloudwatch.amazonaws.com"
ALARM_OPERATIONS = (
    "PutMetricAlarm",
    "DescribeAlarms",
    "DescribeAlarmHistory",
    "DeleteAlarms",
    "SetAlarmState",
    "EnableAlarmActions",
    "DisableAlarmActions",
)
MAX_RECORDS = 100
_EXTERNAL_TIME = "%Y-%m-%dT%H:%M:%S.%f"


def validation(message: str) -> AwsError:
    return AwsError("ValidationError", message, 400)


def _iso(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime(_EXTERNAL_TIME)[:-3] + "+0000"


def _when(moment: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC)


class AlarmService:
    def __init__(
        self,
        store: AlarmStore,
        metrics: MetricsService,
        invoker: ServiceInvoker,
        region: str,
        account_id: str,
        publish: Callable[[str, str, bytes], Awaitable[bool]] | None = None,
    ) -> None:
        """`publish(topic ARN, subject, message)`: an SNS topic action (False: not delivered)."""
        self._publish = publish
        self._store = store
        self._metrics = metrics
        self._invoker = invoker
        self._region = region
        self._account_id = account_id
        self._clock = metrics.recorder.clock
        self._alarms: dict[str, dict[str, Any]] = {}
        # One evaluation at a time: the periodic one and the one a fake clock's move starts would
        # otherwise interleave, and the one that read its periods before the move would write its
        # stale verdict over the newer one.
        self._evaluating = asyncio.Lock()

    async def restore(self) -> None:
        self._alarms = {record["AlarmName"]: record for record in await self._store.load()}

    def arn(self, name: str) -> str:
        return f"arn:aws:cloudwatch:{self._region}:{self._account_id}:alarm:{name}"

    # API -----------------------------------------------------------------------------------
    async def put_metric_alarm(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        record = self._definition(params)
        name = record["AlarmName"]
        now = self._clock.now()
        existing = self._alarms.get(name)
        if existing is None:
            record.update(
                StateValue=INSUFFICIENT_DATA,
                StateReason="Unchecked: Initial alarm creation",
                StateUpdatedTimestamp=now,
                StateTransitionedTimestamp=now,
            )
            summary = f'Alarm "{name}" created'
        else:
            for field in ("StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp"):
                if field in existing:
                    record[field] = existing[field]
            record["StateTransitionedTimestamp"] = existing.get("StateTransitionedTimestamp", now)
            summary = f'Alarm "{name}" updated'
        record["AlarmConfigurationUpdatedTimestamp"] = now
        await self._store.put(name, record)
        self._alarms[name] = record
        await self._history(
            name, "ConfigurationUpdate", summary, {"type": "Create" if existing is None else "Update"}
        )
        return {}

    def _definition(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["AlarmName"]
        metrics = params.get("Metrics")
        single = params.get("MetricName") is not None
        if metrics and single:
            raise validation("You can specify either MetricName or Metrics, but not both.")
        if not metrics and not single:
            raise validation("A metric alarm needs MetricName and Namespace, or Metrics.")
        if single:
            if not params.get("Namespace"):
                raise AwsError("MissingParameter", "The parameter Namespace is required.", 400)
            if (params.get("Statistic") is None) == (params.get("ExtendedStatistic") is None):
                raise validation("Exactly one of Statistic and ExtendedStatistic must be specified.")
            if params.get("ExtendedStatistic") and percentile_of(params["ExtendedStatistic"]) is None:
                raise validation(
                    f"The value {params['ExtendedStatistic']} for ExtendedStatistic is not supported."
                )
            if params.get("Period") is None:
                raise AwsError("MissingParameter", "The parameter Period is required.", 400)
            check_period(params["Period"])
        if params.get("EvaluationPeriods") is None:
            raise AwsError("MissingParameter", "The parameter EvaluationPeriods is required.", 400)
        comparison = params.get("ComparisonOperator")
        if comparison not in COMPARISONS:
            raise validation(f"Lamina supports the comparison operators {', '.join(COMPARISONS)}.")
        if params.get("Threshold") is None:
            raise AwsError("MissingParameter", "The parameter Threshold is required.", 400)
        periods = params["EvaluationPeriods"]
        to_alarm = params.get("DatapointsToAlarm") or periods
        if to_alarm > periods:
            raise validation("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
        treat = params.get("TreatMissingData") or "missing"
        if treat not in TREAT_MISSING:
            raise validation(f"TreatMissingData must be one of {', '.join(TREAT_MISSING)}.")
        for action in (
            *params.get("AlarmActions", []),
            *params.get("OKActions", []),
            *params.get("InsufficientDataActions", []),
        ):
            if not action.startswith(("arn:aws:lambda:", "arn:aws:sns:")):
                raise validation(
                    f"Invalid action {action}: Lamina runs Lambda function and SNS topic actions."
                )
        record = {
            key: params[key]
            for key in (
                "AlarmDescription",
                "MetricName",
                "Namespace",
                "Statistic",
                "ExtendedStatistic",
                "Dimensions",
                "Period",
                "Unit",
                "Metrics",
                "ThresholdMetricId",
            )
            if params.get(key) is not None
        }
        record.update(
            AlarmName=name,
            AlarmArn=self.arn(name),
            ActionsEnabled=params.get("ActionsEnabled", True),
            OKActions=params.get("OKActions", []),
            AlarmActions=params.get("AlarmActions", []),
            InsufficientDataActions=params.get("InsufficientDataActions", []),
            EvaluationPeriods=periods,
            DatapointsToAlarm=to_alarm,
            Threshold=float(params["Threshold"]),
            ComparisonOperator=comparison,
            TreatMissingData=treat,
        )
        if single:
            record.setdefault("Dimensions", [])
        return record

    async def describe_alarms(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        names = params.get("AlarmNames")
        prefix = params.get("AlarmNamePrefix")
        if names and prefix:
            raise validation("AlarmNames and AlarmNamePrefix are mutually exclusive.")
        state, action_prefix = params.get("StateValue"), params.get("ActionPrefix")
        after = token_name(params.get("NextToken"), invalid_next_token)
        selected = [
            record
            for name, record in sorted(self._alarms.items())
            if (not names or name in names)
            and (prefix is None or name.startswith(prefix))
            and (state is None or record["StateValue"] == state)
            and (
                action_prefix is None
                or any(
                    action.startswith(action_prefix)
                    for action in (
                        *record["AlarmActions"],
                        *record["OKActions"],
                        *record["InsufficientDataActions"],
                    )
                )
            )
            and (after is None or name > after)
        ]
        types = params.get("AlarmTypes")
        if types and "MetricAlarm" not in types:
            selected = []
        limit = params.get("MaxRecords") or 50
        page = selected[:limit]
        output: dict[str, Any] = {
            "MetricAlarms": [self._output(record) for record in page],
            "CompositeAlarms": [],
        }
        if len(selected) > limit:
            output["NextToken"] = encode_token(page[-1]["AlarmName"])
        return output

    @staticmethod
    def _output(record: dict[str, Any]) -> dict[str, Any]:
        output = dict(record)
        for field in (
            "StateUpdatedTimestamp",
            "StateTransitionedTimestamp",
            "AlarmConfigurationUpdatedTimestamp",
        ):
            if field in output:
                output[field] = _when(output[field])
        return output

    async def describe_alarm_history(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        start = epoch(params["StartDate"]) if params.get("StartDate") else 0.0
        end = epoch(params["EndDate"]) if params.get("EndDate") else float("inf")
        items = await self._store.history(params.get("AlarmName"), start, end)
        kind = params.get("HistoryItemType")
        if kind is not None:
            items = [item for item in items if item["HistoryItemType"] == kind]
        if params.get("ScanBy") == "TimestampAscending":
            items.reverse()
        offset = token_offset(params.get("NextToken"), invalid_next_token)
        limit = params.get("MaxRecords") or MAX_RECORDS
        page = items[offset : offset + limit]
        output: dict[str, Any] = {
            "AlarmHistoryItems": [{**item, "Timestamp": _when(item["Timestamp"])} for item in page]
        }
        if offset + limit < len(items):
            output["NextToken"] = encode_token(offset + limit)
        return output

    async def delete_alarms(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        names = params["AlarmNames"]
        unknown = [name for name in names if name not in self._alarms]
        if unknown:
            raise AwsError("ResourceNotFound", f"Alarm(s) not found: {', '.join(unknown)}", 404)
        await self._store.delete(names)
        for name in names:
            del self._alarms[name]
        return {}

    async def set_alarm_state(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        name = params["AlarmName"]
        if name not in self._alarms:
            raise AwsError("ResourceNotFound", f"Alarm {name} not found", 404)
        if params["StateValue"] not in STATES:
            raise validation(f"Invalid state {params['StateValue']}.")
        data = params.get("StateReasonData")
        if data is not None:
            try:
                json.loads(data)
            except ValueError:
                raise AwsError("InvalidFormat", "StateReasonData is not valid JSON.", 400) from None
        async with self._evaluating:
            await self._transition(name, params["StateValue"], params["StateReason"], data)
        return {}

    async def enable_alarm_actions(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        await self._set_actions(params["AlarmNames"], enabled=True)
        return {}

    async def disable_alarm_actions(self, params: dict[str, Any], context: object = None) -> dict[str, Any]:
        await self._set_actions(params["AlarmNames"], enabled=False)
        return {}

    async def _set_actions(self, names: list[str], *, enabled: bool) -> None:
        for name in names:
            record = self._alarms.get(name)
            if record is not None:
                record["ActionsEnabled"] = enabled
                await self._store.put(name, record)

    # evaluation ----------------------------------------------------------------------------
    async def evaluate_all(self) -> int:
        """Evaluate every alarm now; returns how many changed state."""
        changed = 0
        async with self._evaluating:
            for name in list(self._alarms):
                try:
                    changed += await self._evaluate(name)
                except Exception:
                    _log.exception("evaluating alarm %s failed", name)
        return changed

    async def _evaluate(self, name: str) -> bool:
        record = self._alarms.get(name)
        if record is None:
            return False
        periods = await self._periods(record)
        rule = Rule(
            record["Threshold"],
            record["ComparisonOperator"],
            record["EvaluationPeriods"],
            record["DatapointsToAlarm"],
            record["TreatMissingData"],
        )
        result = evaluate(rule, periods, record["StateValue"])
        if result.state == record["StateValue"]:
            return False
        data = {
            "version": "1.0",
            "queryDate": _iso(self._clock.now()),
            "statistic": record.get("Statistic") or record.get("ExtendedStatistic"),
            "period": record.get("Period"),
            "recentDatapoints": [value for _, value in result.datapoints],
            "threshold": record["Threshold"],
        }
        await self._transition(name, result.state, result.reason, json.dumps(data))
        return True

    async def _periods(self, record: dict[str, Any]) -> list[tuple[int, float | None]]:
        """The last EvaluationPeriods complete periods, oldest first."""
        count = record["EvaluationPeriods"]
        if record.get("Metrics"):
            return await self._expression_periods(record, count)
        period = record["Period"]
        now = int(self._clock.now())
        end = now - now % period
        start = end - count * period
        key = MetricKey(record["Namespace"], record["MetricName"], dimensions_of(record.get("Dimensions")))
        aggregates = await self._metrics.recorder.read(key, period, start, end)
        statistic = record.get("Statistic") or record["ExtendedStatistic"]
        return [
            (begin, aggregates[begin].statistic(statistic) if begin in aggregates else None)
            for begin in range(start, end, period)
        ]

    async def _expression_periods(self, record: dict[str, Any], count: int) -> list[tuple[int, float | None]]:
        queries = record["Metrics"]
        periods = [query["MetricStat"]["Period"] for query in queries if query.get("MetricStat")]
        periods += [query["Period"] for query in queries if query.get("Period")]
        period = min(periods) if periods else 60
        now = int(self._clock.now())
        end = now - now % period
        start = end - count * period
        result = await self._metrics.get_metric_data(
            {
                "MetricDataQueries": queries,
                "StartTime": start,
                "EndTime": end,
                "ScanBy": "TimestampAscending",
            }
        )
        wanted = record.get("ThresholdMetricId") or next(
            (query["Id"] for query in queries if query.get("ReturnData", True)), queries[0]["Id"]
        )
        found = next((item for item in result["MetricDataResults"] if item["Id"] == wanted), None)
        values = {}
        if found is not None:
            values = {
                int(stamp.timestamp()): value
                for stamp, value in zip(found["Timestamps"], found["Values"], strict=True)
            }
        return [(begin, values.get(begin)) for begin in range(start, end, period)]

    async def _transition(self, name: str, state: str, reason: str, reason_data: str | None) -> None:
        record = self._alarms[name]
        previous = {
            "value": record["StateValue"],
            "reason": record.get("StateReason", ""),
            "timestamp": _iso(record.get("StateUpdatedTimestamp", self._clock.now())),
        }
        if record.get("StateReasonData"):
            previous["reasonData"] = record["StateReasonData"]
        now = self._clock.now()
        old_state = record["StateValue"]
        record.update(StateValue=state, StateReason=reason, StateUpdatedTimestamp=now)
        if reason_data is not None:
            record["StateReasonData"] = reason_data
        else:
            record.pop("StateReasonData", None)
        if state != old_state:
            record["StateTransitionedTimestamp"] = now
        await self._store.put(name, record)
        await self._history(
            name,
            "StateUpdate",
            f"Alarm updated from {old_state} to {state}",
            {
                "version": "1.0",
                "oldState": {"stateValue": old_state, "stateReason": previous["reason"]},
                "newState": {"stateValue": state, "stateReason": reason},
            },
        )
        if record["ActionsEnabled"]:
            actions = {
                "ALARM": "AlarmActions",
                "OK": "OKActions",
                INSUFFICIENT_DATA: "InsufficientDataActions",
            }[state]
            for action in record.get(actions, []):
                await self._run_action(record, action, previous)

    async def _run_action(self, record: dict[str, Any], action: str, previous: dict[str, Any]) -> None:
        name = record["AlarmName"]
        if action.startswith("arn:aws:sns:"):
            subject, message = alarm_notification(
                record, previous["value"], self._account_id, self._region, self._clock.now()
            )
            published = self._publish is not None and await self._publish(action, subject, message)
            await self._history(
                name,
                "Action",
                f"Successfully executed action {action}"
                if published
                else f"Failed to execute action {action}. The topic does not exist.",
                {"actionState": "Succeeded" if published else "Failed"},
            )
            return
        payload = {
            "source": "aws.cloudwatch",
            "alarmArn": record["AlarmArn"],
            "accountId": self._account_id,
            "time": _iso(self._clock.now()),
            "region": self._region,
            "alarmData": {
                "alarmName": name,
                "state": {
                    "value": record["StateValue"],
                    "reason": record["StateReason"],
                    "reasonData": record.get("StateReasonData", ""),
                    "timestamp": _iso(record["StateUpdatedTimestamp"]),
                },
                "previousState": previous,
                "configuration": self._configuration(record),
            },
        }
        request_id = await self._invoker.invoke_event(
            ALARMS_SERVICE, action, json.dumps(payload).encode(), record["AlarmArn"], self._account_id
        )
        if request_id is not None:
            await self._history(
                name, "Action", f"Successfully executed action {action}", {"actionState": "Succeeded"}
            )
        else:
            await self._history(
                name,
                "Action",
                f"Failed to execute action {action}. The function's resource policy does not allow "
                f"{ALARMS_SERVICE} to invoke it for this alarm, or it does not exist.",
                {"actionState": "Failed"},
            )

    @staticmethod
    def _configuration(record: dict[str, Any]) -> dict[str, Any]:
        if record.get("Metrics"):
            metrics = record["Metrics"]
        else:
            metrics = [
                {
                    "id": "m1",
                    "metricStat": {
                        "metric": {
                            "namespace": record["Namespace"],
                            "name": record["MetricName"],
                            "dimensions": {
                                item["Name"]: item["Value"] for item in record.get("Dimensions", [])
                            },
                        },
                        "period": record["Period"],
                        "stat": record.get("Statistic") or record.get("ExtendedStatistic"),
                    },
                    "returnData": True,
                }
            ]
        return {"description": record.get("AlarmDescription", ""), "metrics": metrics}

    async def _history(self, name: str, kind: str, summary: str, data: dict[str, Any]) -> None:
        now = self._clock.now()
        await self._store.add_history(
            name,
            now,
            {
                "AlarmName": name,
                "AlarmType": "MetricAlarm",
                "Timestamp": now,
                "HistoryItemType": kind,
                "HistorySummary": summary,
                "HistoryData": json.dumps(data),
            },
        )
