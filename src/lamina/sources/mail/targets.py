"""Where receipt actions send things, as `ses.amazonaws.com` acting for a receipt rule (its ARN is
the SourceArn the target's policy is checked against): the interface `receiving.py` uses, which
the composition root implements over the function invokers, the bucket service and the topics."""

from __future__ import annotations

from typing import Protocol

__all__ = ["SES_PRINCIPAL", "MailTargets", "rule_arn"]

SES_PRINCIPAL = "ses.amazonaws.com"


def rule_arn(region: str, account: str, rule_set: str, rule: str) -> str:
    return f"arn:aws:ses:{region}:{account}:receipt-rule-set/{rule_set}:receipt-rule/{rule}"


class MailTargets(Protocol):
    async def may_invoke(self, function_arn: str, source_arn: str, account: str) -> bool: ...
    async def invoke_event(self, function_arn: str, payload: bytes, source_arn: str, account: str) -> bool:
        """Queue an asynchronous invocation; False when refused or gone."""

    async def invoke_sync(
        self, function_arn: str, payload: bytes, source_arn: str, account: str
    ) -> bytes | None:
        """Run the function and return its result payload; None when refused, gone or failed."""

    async def may_store(self, bucket: str, key: str, source_arn: str, account: str) -> bool: ...
    async def store(self, bucket: str, key: str, body: bytes, source_arn: str, account: str) -> bool: ...
    async def may_publish(self, topic_arn: str, source_arn: str, account: str) -> bool: ...
    async def publish(self, topic_arn: str, body: bytes, source_arn: str, account: str) -> bool: ...
