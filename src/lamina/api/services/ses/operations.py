"""SES's receipt rule operations: decoded params in, the receipt rules called, the wire output
back. The account is the caller's, the region the one the request was signed for."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services import paging
from lamina.domain.mail import errors
from lamina.domain.mail.rules import RuleSet
from lamina.sources.mail.service import ReceiptRules

__all__ = ["OPERATIONS", "SesOperations"]

OPERATIONS = (
    "CreateReceiptRuleSet",
    "DeleteReceiptRuleSet",
    "DescribeReceiptRuleSet",
    "ListReceiptRuleSets",
    "CloneReceiptRuleSet",
    "ReorderReceiptRuleSet",
    "CreateReceiptRule",
    "DeleteReceiptRule",
    "DescribeReceiptRule",
    "UpdateReceiptRule",
    "SetReceiptRulePosition",
    "SetActiveReceiptRuleSet",
    "DescribeActiveReceiptRuleSet",
)
_PAGE = 100
# Authorises an operation: (IAM action, resource ARN, caller's context); raises AccessDenied.
Authorize = Callable[[str, str, RequestContext], None]


def _metadata(rule_set: RuleSet) -> dict[str, Any]:
    return {"Name": rule_set.name, "CreatedTimestamp": datetime.fromtimestamp(rule_set.created_at, UTC)}


class SesOperations:
    def __init__(self, rules: ReceiptRules, authorize: Authorize) -> None:
        self._rules = rules
        self._authorize = authorize

    def _where(self, operation: str, params: dict[str, Any], context: RequestContext) -> tuple[str, str]:
        account, region = context.principal.account, context.region
        name = params.get("RuleSetName") or "*"
        self._authorize(
            f"ses:{operation}", f"arn:aws:ses:{region}:{account}:receipt-rule-set/{name}", context
        )
        return account, region

    async def create_receipt_rule_set(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        await self._rules.create_set(
            *self._where("CreateReceiptRuleSet", params, context), params["RuleSetName"]
        )
        return OperationResult({})

    async def clone_receipt_rule_set(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        where = self._where("CloneReceiptRuleSet", params, context)
        await self._rules.clone_set(*where, params["RuleSetName"], params["OriginalRuleSetName"])
        return OperationResult({})

    async def delete_receipt_rule_set(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        await self._rules.delete_set(
            *self._where("DeleteReceiptRuleSet", params, context), params["RuleSetName"]
        )
        return OperationResult({})

    async def describe_receipt_rule_set(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        where = self._where("DescribeReceiptRuleSet", params, context)
        rule_set = await self._rules.rule_set(*where, params["RuleSetName"])
        return OperationResult({"Metadata": _metadata(rule_set), "Rules": list(rule_set.rules)})

    async def list_receipt_rule_sets(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        rule_sets = await self._rules.rule_sets(*self._where("ListReceiptRuleSets", params, context))
        page, output = paging.page(
            rule_sets, params.get("NextToken"), _PAGE, lambda: errors.invalid("Invalid NextToken.")
        )
        return OperationResult({"RuleSets": [_metadata(rule_set) for rule_set in page], **output})

    async def reorder_receipt_rule_set(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        where = self._where("ReorderReceiptRuleSet", params, context)
        await self._rules.reorder(*where, params["RuleSetName"], params["RuleNames"])
        return OperationResult({})

    async def create_receipt_rule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        where = self._where("CreateReceiptRule", params, context)
        await self._rules.create_rule(*where, params["RuleSetName"], params["Rule"], params.get("After"))
        return OperationResult({})

    async def update_receipt_rule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        where = self._where("UpdateReceiptRule", params, context)
        await self._rules.update_rule(*where, params["RuleSetName"], params["Rule"])
        return OperationResult({})

    async def delete_receipt_rule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        where = self._where("DeleteReceiptRule", params, context)
        await self._rules.delete_rule(*where, params["RuleSetName"], params["RuleName"])
        return OperationResult({})

    async def describe_receipt_rule(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        where = self._where("DescribeReceiptRule", params, context)
        rule_set = await self._rules.rule_set(*where, params["RuleSetName"])
        return OperationResult({"Rule": rule_set.rules[rule_set.index_of(params["RuleName"])]})

    async def set_receipt_rule_position(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        where = self._where("SetReceiptRulePosition", params, context)
        await self._rules.move_rule(*where, params["RuleSetName"], params["RuleName"], params.get("After"))
        return OperationResult({})

    async def set_active_receipt_rule_set(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        where = self._where("SetActiveReceiptRuleSet", params, context)
        await self._rules.set_active(*where, params.get("RuleSetName"))
        return OperationResult({})

    async def describe_active_receipt_rule_set(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        active = await self._rules.active(*self._where("DescribeActiveReceiptRuleSet", params, context))
        if active is None:
            return OperationResult({})
        return OperationResult({"Metadata": _metadata(active), "Rules": list(active.rules)})
