"""The CloudWatch Logs facade of one account: its operation table and their authorisation.

Calls are authorised as `logs:<Operation>`. The resource is the log stream for calls on one stream
(`arn:aws:logs:R:A:log-group:G:log-stream:S`), the log group for calls on a group
(`…:log-group:G:*`, the form policies such as AWSLambdaBasicExecutionRole's grant), and
`…:log-group:*` for listing groups.
"""

from __future__ import annotations

from typing import Any

from lamina.api.context import RequestContext
from lamina.api.services.service import ServiceFacade, method_table
from lamina.errors import AwsError
from lamina.identity.authorizer import Authorizer
from lamina.observability.logs.live_tail import LIVE_TAIL_OPERATIONS, LiveTail
from lamina.observability.logs.metric_filters import METRIC_FILTER_OPERATIONS, MetricFilters
from lamina.observability.logs.names import group_arn, group_of, stream_arn
from lamina.observability.logs.service import LOGS_OPERATIONS, LogsService
from lamina.observability.logs.subscriptions import SUBSCRIPTION_OPERATIONS, SubscriptionFilters
from lamina.protocol.http import WireProtocol

DENIED = "AccessDeniedException"
_STREAM_OPERATIONS = frozenset({"PutLogEvents", "GetLogEvents", "CreateLogStream", "DeleteLogStream"})


def logs_resource(operation: str, params: dict[str, Any], region: str, account_id: str) -> str:
    try:
        group = group_of(params, account_id)
    except AwsError:
        return f"arn:aws:logs:{region}:{account_id}:log-group:*"
    if operation in _STREAM_OPERATIONS and "logStreamName" in params:
        return stream_arn(region, account_id, group, params["logStreamName"])
    return group_arn(region, account_id, group)


def build_logs_facade(
    protocol: WireProtocol,
    logs: LogsService,
    subscriptions: SubscriptionFilters,
    metric_filters: MetricFilters,
    live_tail: LiveTail,
    authorizer: Authorizer,
) -> ServiceFacade:
    async def authorize(operation: str, params: dict[str, Any], context: RequestContext) -> None:
        caller = context.principal
        if caller.is_root and caller.account == logs.account_id:
            return
        resource = logs_resource(operation, params, logs.region, logs.account_id)
        authorizer.check(caller, f"logs:{operation}", resource, logs.account_id, code=DENIED)

    operations = {
        **method_table(logs, LOGS_OPERATIONS),
        **method_table(subscriptions, SUBSCRIPTION_OPERATIONS),
        **method_table(metric_filters, METRIC_FILTER_OPERATIONS),
        **method_table(live_tail, LIVE_TAIL_OPERATIONS),
    }
    return ServiceFacade(protocol, operations, authorize)
