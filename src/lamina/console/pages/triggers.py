"""The Triggers and destinations tab: what invokes the function and where its asynchronous
results go, gathered from every service as the signed-in identity (a service it may not read is
left out with a note): the resource policy's statements, event source mappings, EventBridge rules,
Scheduler schedules, SNS subscriptions, bucket notifications, API Gateway integrations, the
on-success / on-failure destinations and the dead-letter queue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from lamina.console.pages.function_page import describe, event_invoke_config, tab_page
from lamina.console.visit import Visit
from lamina.errors import AwsError
from lamina.transport.messages import LeanResponse

__all__ = ["Trigger", "show"]

MAX_SCANNED = 100  # buckets or APIs looked into, each; the rest are not searched


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: str
    source: str
    detail: str


def _names_function(target: str, function_arn: str) -> bool:
    """True for the function's ARN, with or without a qualifier."""
    return target == function_arn or target.startswith(function_arn + ":")


async def _policy(visit: Visit, arn: str) -> list[Trigger]:
    try:
        answer = await visit.call("lambda", "GetPolicy", {"FunctionName": arn})
    except AwsError as error:
        if error.code == "ResourceNotFoundException":
            return []
        raise
    found = []
    for statement in json.loads(answer.get("Policy") or "{}").get("Statement") or []:
        principal = statement.get("Principal")
        who = principal.get("Service") or principal.get("AWS") if isinstance(principal, dict) else principal
        condition = statement.get("Condition") or {}
        source = next(
            (
                value
                for test in condition.values()
                for key, value in test.items()
                if key.lower() in ("aws:sourcearn", "aws:sourceaccount")
            ),
            "",
        )
        found.append(
            Trigger(
                "Permission", str(who), f"{statement.get('Action')} ({statement.get('Sid')}) {source}".strip()
            )
        )
    return found


async def _mappings(visit: Visit, arn: str) -> list[Trigger]:
    answer = await visit.call("lambda", "ListEventSourceMappings", {"FunctionName": arn})
    return [
        Trigger(
            "Event source mapping",
            item.get("EventSourceArn", ""),
            f"{item.get('State')}, batch size {item.get('BatchSize')}",
        )
        for item in answer.get("EventSourceMappings") or []
    ]


async def _rules(visit: Visit, arn: str) -> list[Trigger]:
    answer = await visit.call("events", "ListRuleNamesByTarget", {"TargetArn": arn})
    return [Trigger("EventBridge rule", name, "default event bus") for name in answer.get("RuleNames") or []]


async def _schedules(visit: Visit, arn: str) -> list[Trigger]:
    answer = await visit.call("scheduler", "ListSchedules", {"MaxResults": 100})
    return [
        Trigger("Scheduler schedule", item["Name"], f"group {item.get('GroupName')}, {item.get('State')}")
        for item in answer.get("Schedules") or []
        if _names_function((item.get("Target") or {}).get("Arn", ""), arn)
    ]


async def _subscriptions(visit: Visit, arn: str) -> list[Trigger]:
    found: list[Trigger] = []
    token: str | None = None
    for _ in range(MAX_SCANNED):
        answer = await visit.call("sns", "ListSubscriptions", {"NextToken": token} if token else {})
        found += [
            Trigger("SNS subscription", item["TopicArn"], item["SubscriptionArn"])
            for item in answer.get("Subscriptions") or []
            if item.get("Protocol") == "lambda" and _names_function(item.get("Endpoint", ""), arn)
        ]
        token = answer.get("NextToken")
        if not token:
            break
    return found


async def _buckets(visit: Visit, arn: str) -> list[Trigger]:
    buckets = (await visit.call("s3", "ListBuckets")).get("Buckets") or []
    found: list[Trigger] = []
    for bucket in buckets[:MAX_SCANNED]:
        try:
            config = await visit.call("s3", "GetBucketNotificationConfiguration", {"Bucket": bucket["Name"]})
        except AwsError:
            continue
        found += [
            Trigger("S3 bucket", bucket["Name"], ", ".join(item.get("Events") or []))
            for item in config.get("LambdaFunctionConfigurations") or []
            if _names_function(item.get("LambdaFunctionArn", ""), arn)
        ]
    return found


async def _http_apis(visit: Visit, arn: str) -> list[Trigger]:
    apis = (await visit.call("apigatewayv2", "GetApis")).get("Items") or []
    found: list[Trigger] = []
    for api in apis[:MAX_SCANNED]:
        integrations = await visit.call("apigatewayv2", "GetIntegrations", {"ApiId": api["ApiId"]})
        if any(arn in str(item.get("IntegrationUri", "")) for item in integrations.get("Items") or []):
            found.append(Trigger("API Gateway (HTTP API)", api["Name"], api.get("ApiEndpoint", "")))
    return found


async def _rest_apis(visit: Visit, arn: str) -> list[Trigger]:
    apis = (await visit.call("apigateway", "GetRestApis", {"limit": 500})).get("items") or []
    found: list[Trigger] = []
    for api in apis[:MAX_SCANNED]:
        resources = await visit.call(
            "apigateway", "GetResources", {"restApiId": api["id"], "embed": ["methods"], "limit": 500}
        )
        routes = [
            f"{method} {resource.get('path')}"
            for resource in resources.get("items") or []
            for method, body in (resource.get("resourceMethods") or {}).items()
            if arn in str((body.get("methodIntegration") or {}).get("uri", ""))
        ]
        if routes:
            found.append(Trigger("API Gateway (REST API)", api["name"], ", ".join(routes)))
    return found


async def _destinations(visit: Visit, arn: str, configuration: dict[str, Any]) -> list[Trigger]:
    found: list[Trigger] = []
    dead_letter = (configuration.get("DeadLetterConfig") or {}).get("TargetArn")
    if dead_letter:
        found.append(
            Trigger("Dead-letter queue", dead_letter, "asynchronous events that failed every attempt")
        )
    config = await event_invoke_config(visit, arn, refusal_as_none=False)
    for kind, label in (("OnSuccess", "On success"), ("OnFailure", "On failure")):
        destination = ((config.get("DestinationConfig") or {}).get(kind) or {}).get("Destination")
        if destination:
            found.append(Trigger(label, destination, "asynchronous invocation"))
    return found


async def _gathered(label: str, work: Awaitable[list[Trigger]]) -> tuple[list[Trigger], str | None]:
    try:
        return await work, None
    except AwsError as error:
        return [], f"{label}: {error.code}: {error.message}"
    except KeyError:  # a service this server does not run
        return [], f"{label}: not served here"


async def show(visit: Visit, name: str) -> LeanResponse:
    described = await describe(visit, name)
    configuration = described["Configuration"]
    arn = configuration["FunctionArn"]
    trigger_sources = (
        ("Resource policy", _policy(visit, arn)),
        ("Event source mappings", _mappings(visit, arn)),
        ("EventBridge", _rules(visit, arn)),
        ("Scheduler", _schedules(visit, arn)),
        ("SNS", _subscriptions(visit, arn)),
        ("S3", _buckets(visit, arn)),
        ("API Gateway HTTP APIs", _http_apis(visit, arn)),
        ("API Gateway REST APIs", _rest_apis(visit, arn)),
    )
    results = await asyncio.gather(
        *(_gathered(label, work) for label, work in trigger_sources),
        _gathered("Destinations", _destinations(visit, arn, configuration)),
    )
    *trigger_results, (destinations, _) = results
    triggers = [item for found, _ in trigger_results for item in found]
    notes = [note for _, note in results if note is not None]
    return await tab_page(
        visit, name, "triggers", 200, described, triggers=triggers, destinations=destinations, notes=notes
    )
