"""The CloudWatch facades of one account (query and json protocols over the same operations) and
their authorisation: `cloudwatch:<Operation>` on `*` for metrics (CloudWatch has no metric-level
resources) and on the alarm's ARN for calls naming one alarm."""

from __future__ import annotations

from typing import Any

from lamina.api.context import RequestContext
from lamina.api.services.service import OperationHandler, ServiceFacade
from lamina.identity.authorizer import Authorizer
from lamina.protocol.http import WireProtocol

DENIED = "AccessDenied"


def alarm_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{name}"


def build_cloudwatch_facades(
    protocols: tuple[WireProtocol, WireProtocol],
    operations: dict[str, OperationHandler],
    authorizer: Authorizer,
    region: str,
    account_id: str,
) -> tuple[ServiceFacade, ServiceFacade]:
    """(query facade, json facade)."""

    async def authorize(operation: str, params: dict[str, Any], context: RequestContext) -> None:
        caller = context.principal
        if caller.is_root and caller.account == account_id:
            return
        resource = alarm_arn(region, account_id, params["AlarmName"]) if "AlarmName" in params else "*"
        authorizer.check(caller, f"cloudwatch:{operation}", resource, account_id, code=DENIED)

    query, json = protocols
    return ServiceFacade(query, operations, authorize), ServiceFacade(json, operations, authorize)
