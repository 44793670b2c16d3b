"""SES receipt rule sets of each account-region, in the resource store (`ses/rule-set`, and the
active set's name under `ses/active`): the API's create, describe, update, order and delete, and
the active set for incoming mail. CreateReceiptRule and UpdateReceiptRule check that SES may use
each action's target, as SES does (InvalidLambdaFunction, InvalidS3Configuration,
InvalidSnsTopic)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from lamina.clock import Clock
from lamina.domain.mail import errors
from lamina.domain.mail.rules import RuleSet, check_name, check_rule
from lamina.sources.mail.targets import MailTargets, rule_arn
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["ReceiptRules"]

RULE_SET_KIND = "ses/rule-set"
ACTIVE_KIND = "ses/active"
_ACTIVE = "active"


class ReceiptRules:
    def __init__(self, store: ResourceStore, clock: Clock, targets: MailTargets) -> None:
        self._store = store
        self._clock = clock
        self._targets = targets
        self._lock = asyncio.Lock()

    async def rule_set(self, account: str, region: str, name: str) -> RuleSet:
        document = await self._store.get(ResourceKey(RULE_SET_KIND, account, region, name))
        if document is None:
            raise errors.rule_set_not_found(name)
        return RuleSet.from_document(name, document)

    async def rule_sets(self, account: str, region: str) -> list[RuleSet]:
        return [
            RuleSet.from_document(name, document)
            for name, document in await self._store.list_in(RULE_SET_KIND, account, region)
        ]

    async def active_name(self, account: str, region: str) -> str | None:
        document = await self._store.get(ResourceKey(ACTIVE_KIND, account, region, _ACTIVE))
        return str(document["name"]) if document else None

    async def active(self, account: str, region: str) -> RuleSet | None:
        name = await self.active_name(account, region)
        if name is None:
            return None
        document = await self._store.get(ResourceKey(RULE_SET_KIND, account, region, name))
        return RuleSet.from_document(name, document) if document is not None else None

    async def create_set(
        self, account: str, region: str, name: str, rules: Sequence[dict[str, Any]] = ()
    ) -> None:
        check_name(name, "rule set")
        created = await self._store.create(
            ResourceKey(RULE_SET_KIND, account, region, name),
            RuleSet(name, self._clock.now(), tuple(rules)).to_document(),
        )
        if not created:
            raise errors.already_exists(f"Rule set {name}")

    async def clone_set(self, account: str, region: str, name: str, original: str) -> None:
        await self.create_set(account, region, name, (await self.rule_set(account, region, original)).rules)

    async def delete_set(self, account: str, region: str, name: str) -> None:
        """Idempotent; the active set cannot be deleted."""
        async with self._lock:
            if await self.active_name(account, region) == name:
                raise errors.cannot_delete(name)
            await self._store.apply([Write(ResourceKey(RULE_SET_KIND, account, region, name), None)])

    async def set_active(self, account: str, region: str, name: str | None) -> None:
        """None deactivates every rule set (incoming mail is then refused)."""
        async with self._lock:
            if name is not None:
                await self.rule_set(account, region, name)
            key = ResourceKey(ACTIVE_KIND, account, region, _ACTIVE)
            await self._store.apply([Write(key, {"name": name} if name is not None else None)])

    async def create_rule(
        self, account: str, region: str, set_name: str, rule: dict[str, Any], after: str | None
    ) -> None:
        check_rule(rule)
        await self._check_targets(account, region, set_name, rule)
        async with self._lock:
            rule_set = await self.rule_set(account, region, set_name)
            await self._save(account, region, rule_set.with_rule(_normalised(rule), after))

    async def update_rule(self, account: str, region: str, set_name: str, rule: dict[str, Any]) -> None:
        check_rule(rule)
        await self._check_targets(account, region, set_name, rule)
        async with self._lock:
            rule_set = await self.rule_set(account, region, set_name)
            await self._save(account, region, rule_set.replacing(_normalised(rule)))

    async def delete_rule(self, account: str, region: str, set_name: str, rule_name: str) -> None:
        async with self._lock:
            rule_set = await self.rule_set(account, region, set_name)
            await self._save(account, region, rule_set.without(rule_name))

    async def move_rule(
        self, account: str, region: str, set_name: str, rule_name: str, after: str | None
    ) -> None:
        async with self._lock:
            rule_set = await self.rule_set(account, region, set_name)
            await self._save(account, region, rule_set.moved(rule_name, after))

    async def reorder(self, account: str, region: str, set_name: str, names: Sequence[str]) -> None:
        async with self._lock:
            rule_set = await self.rule_set(account, region, set_name)
            if sorted(names) != sorted(rule["Name"] for rule in rule_set.rules):
                raise errors.invalid("RuleNames must name every rule of the rule set once.")
            ordered = tuple(rule_set.rules[rule_set.index_of(name)] for name in names)
            await self._save(account, region, RuleSet(rule_set.name, rule_set.created_at, ordered))

    async def _save(self, account: str, region: str, rule_set: RuleSet) -> None:
        await self._store.apply(
            [Write(ResourceKey(RULE_SET_KIND, account, region, rule_set.name), rule_set.to_document())]
        )

    async def _check_targets(self, account: str, region: str, set_name: str, rule: dict[str, Any]) -> None:
        source = rule_arn(region, account, set_name, rule["Name"])
        for action in rule.get("Actions") or []:
            function = (action.get("LambdaAction") or {}).get("FunctionArn")
            if function and not await self._targets.may_invoke(function, source, account):
                raise errors.invalid_function(function)
            if (s3_action := action.get("S3Action")) is not None:
                key = f"{s3_action.get('ObjectKeyPrefix', '')}AMAZON_SES_SETUP_NOTIFICATION"
                if not await self._targets.may_store(s3_action["BucketName"], key, source, account):
                    raise errors.invalid_bucket(s3_action["BucketName"])
            for kind in ("SNSAction", "S3Action", "LambdaAction", "StopAction"):
                topic = (action.get(kind) or {}).get("TopicArn")
                if topic and not await self._targets.may_publish(topic, source, account):
                    raise errors.invalid_topic(topic)


def _normalised(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule as DescribeReceiptRule answers it: Enabled, ScanEnabled and TlsPolicy filled in."""
    return {
        "Enabled": False,
        "TlsPolicy": "Optional",
        "ScanEnabled": False,
        "Recipients": [],
        "Actions": [],
        **rule,
    }
