"""The EventBridge Scheduler operations: decoded params in, the scheduler service called, the wire
output back. The account is the caller's, the region the one the request was signed for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services import paging
from lamina.domain.schedules import errors
from lamina.domain.schedules.records import DEFAULT_GROUP, Schedule, ScheduleGroup, group_arn, schedule_arn
from lamina.sources.schedules.service import SchedulerService

__all__ = ["SchedulerOperations"]

T = TypeVar("T")
_DEFAULT_PAGE = 100
# Authorises an operation: (IAM action, resource ARN, caller's context); raises AccessDenied.
Authorize = Callable[[str, str, RequestContext], None]


class SchedulerOperations:
    def __init__(self, service: SchedulerService, authorize: Authorize) -> None:
        self._service = service
        self._authorize = authorize

    def _schedule_of(self, params: dict[str, Any], context: RequestContext, action: str) -> Schedule:
        account, region = context.principal.account, context.region
        group = params.get("GroupName") or DEFAULT_GROUP
        self._authorize(action, schedule_arn(region, account, group, params["Name"]), context)
        start, end = params.get("StartDate"), params.get("EndDate")
        return Schedule(
            name=params["Name"],
            group=group,
            account=account,
            region=region,
            expression=params["ScheduleExpression"],
            target=params["Target"],
            flexible_time_window=params["FlexibleTimeWindow"],
            timezone=params.get("ScheduleExpressionTimezone") or "UTC",
            state=params.get("State") or "ENABLED",
            start_date=start.timestamp() if isinstance(start, datetime) else None,
            end_date=end.timestamp() if isinstance(end, datetime) else None,
            description=params.get("Description"),
            kms_key_arn=params.get("KmsKeyArn"),
            action_after_completion=params.get("ActionAfterCompletion") or "NONE",
        )

    # schedules ---------------------------------------------------------------------------------
    async def create_schedule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        schedule = await self._service.create(self._schedule_of(params, context, "scheduler:CreateSchedule"))
        return OperationResult({"ScheduleArn": schedule.arn})

    async def update_schedule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        schedule = await self._service.update(self._schedule_of(params, context, "scheduler:UpdateSchedule"))
        return OperationResult({"ScheduleArn": schedule.arn})

    async def get_schedule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        group = params.get("GroupName") or DEFAULT_GROUP
        self._authorize(
            "scheduler:GetSchedule", schedule_arn(region, account, group, params["Name"]), context
        )
        return OperationResult(self._service.schedule(account, region, group, params["Name"]).describe())

    async def delete_schedule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        group = params.get("GroupName") or DEFAULT_GROUP
        self._authorize(
            "scheduler:DeleteSchedule", schedule_arn(region, account, group, params["Name"]), context
        )
        await self._service.delete(account, region, group, params["Name"])
        return OperationResult({})

    async def list_schedules(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        self._authorize("scheduler:ListSchedules", schedule_arn(region, account, "*", "*"), context)
        schedules = self._service.list_schedules(
            account, region, params.get("GroupName"), params.get("NamePrefix") or "", params.get("State")
        )
        page, output = _page(schedules, params)
        return OperationResult({"Schedules": [schedule.summary() for schedule in page], **output})

    # groups ------------------------------------------------------------------------------------
    async def create_schedule_group(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        self._authorize("scheduler:CreateScheduleGroup", group_arn(region, account, params["Name"]), context)
        group = await self._service.create_group(account, region, params["Name"])
        if params.get("Tags"):
            await self._service.tag(group.arn, {tag["Key"]: tag["Value"] for tag in params["Tags"]})
        return OperationResult({"ScheduleGroupArn": group.arn})

    async def get_schedule_group(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        self._authorize("scheduler:GetScheduleGroup", group_arn(region, account, params["Name"]), context)
        return OperationResult(_group(self._service.group(account, region, params["Name"])))

    async def delete_schedule_group(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        self._authorize("scheduler:DeleteScheduleGroup", group_arn(region, account, params["Name"]), context)
        await self._service.delete_group(account, region, params["Name"])
        return OperationResult({})

    async def list_schedule_groups(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        account, region = context.principal.account, context.region
        self._authorize("scheduler:ListScheduleGroups", group_arn(region, account, "*"), context)
        page, output = _page(self._service.groups(account, region, params.get("NamePrefix") or ""), params)
        return OperationResult({"ScheduleGroups": [_group(group) for group in page], **output})

    # tags --------------------------------------------------------------------------------------
    async def tag_resource(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        self._authorize("scheduler:TagResource", params["ResourceArn"], context)
        await self._service.tag(params["ResourceArn"], {tag["Key"]: tag["Value"] for tag in params["Tags"]})
        return OperationResult({})

    async def untag_resource(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        self._authorize("scheduler:UntagResource", params["ResourceArn"], context)
        await self._service.untag(params["ResourceArn"], params["TagKeys"])
        return OperationResult({})

    async def list_tags_for_resource(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        self._authorize("scheduler:ListTagsForResource", params["ResourceArn"], context)
        tags = await self._service.tags(params["ResourceArn"])
        return OperationResult(
            {"Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())]}
        )


def _group(group: ScheduleGroup) -> dict[str, Any]:
    described = group.describe()
    if not group.created_at:  # the default group, there from the start
        described.pop("CreationDate")
        described.pop("LastModificationDate")
    return described


def _page(items: Sequence[T], params: dict[str, Any]) -> tuple[list[T], dict[str, Any]]:
    return paging.page(
        items,
        params.get("NextToken"),
        params.get("MaxResults") or _DEFAULT_PAGE,
        lambda: errors.validation("Invalid NextToken."),
    )
