"""What happens to a received message (SES developer guide, "Receipt rules" and "Actions"): each
enabled rule of the active rule set, in order, that takes one of its recipients runs its actions
in order. A Lambda action invokes the function with the SES event (Event: queued durably;
RequestResponse: run, and its `disposition` may stop the rule, STOP_RULE, or the whole rule set,
STOP_RULE_SET); an S3 action stores the raw message as PREFIX + message id; an SNS action
publishes the notification with the content; a Stop action ends the rule set. Each action's
optional TopicArn is told too.

Mail for which no enabled rule of the active set takes a recipient is refused at RCPT
(`accepts`), so nothing is received that no rule would handle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from lamina.domain.mail.events import (
    function_event,
    mail_object,
    new_message_id,
    notification,
    parse_message,
    receipt_object,
)
from lamina.domain.mail.rules import matching_recipients, takes
from lamina.sources.mail.service import ReceiptRules
from lamina.sources.mail.targets import MailTargets, rule_arn

__all__ = ["MailReceiver"]

_log = logging.getLogger(__name__)
_STOP_RULE, _STOP_RULE_SET = "STOP_RULE", "STOP_RULE_SET"


class MailReceiver:
    def __init__(
        self, rules: ReceiptRules, targets: MailTargets, account: str, region: str, now: Callable[[], float]
    ) -> None:
        """Mail is the `account`'s, in `region` (the server's home account and region)."""
        self._rules = rules
        self._targets = targets
        self._account = account
        self._region = region
        self._now = now

    async def accepts(self, address: str) -> bool:
        active = await self._rules.active(self._account, self._region)
        return active is not None and any(
            rule.get("Enabled") and takes(rule.get("Recipients") or [], address) for rule in active.rules
        )

    async def receive(self, source: str, recipients: Sequence[str], raw: bytes) -> str | None:
        """Run the active rule set on a message; returns its SES message id (None: no rule set)."""
        active = await self._rules.active(self._account, self._region)
        if active is None:
            return None
        received = self._now()
        message_id = new_message_id()
        mail = mail_object(parse_message(raw), source, recipients, message_id, received)
        for rule in active.rules:
            matched = matching_recipients(rule, recipients)
            if not rule.get("Enabled") or not matched:
                continue
            source_arn = rule_arn(self._region, self._account, active.name, rule["Name"])
            outcome = await self._run_rule(rule, matched, mail, raw, source_arn, received)
            if outcome == _STOP_RULE_SET:
                break
        return message_id

    async def _run_rule(
        self,
        rule: dict[str, Any],
        matched: list[str],
        mail: dict[str, Any],
        raw: bytes,
        source_arn: str,
        received: float,
    ) -> str | None:
        account = self._account
        for action in rule.get("Actions") or []:
            if (lambda_action := action.get("LambdaAction")) is not None:
                function = lambda_action["FunctionArn"]
                kind = lambda_action.get("InvocationType", "Event")
                described = {"type": "Lambda", "functionArn": function, "invocationType": kind}
                receipt = receipt_object(rule, matched, described, received, self._now())
                payload = json.dumps(function_event(mail, receipt)).encode()
                await self._tell(lambda_action.get("TopicArn"), mail, receipt, None, source_arn)
                if kind == "RequestResponse":
                    disposition = _disposition(
                        await self._targets.invoke_sync(function, payload, source_arn, account)
                    )
                    if disposition in (_STOP_RULE, _STOP_RULE_SET):
                        return disposition
                elif not await self._targets.invoke_event(function, payload, source_arn, account):
                    _log.warning(
                        "%s: the Lambda action's function %s did not take the message", source_arn, function
                    )
            elif (s3_action := action.get("S3Action")) is not None:
                key = f"{s3_action.get('ObjectKeyPrefix', '')}{mail['messageId']}"
                described = {"type": "S3", "bucketName": s3_action["BucketName"], "objectKey": key}
                if s3_action.get("TopicArn"):
                    described["topicArn"] = s3_action["TopicArn"]
                if not await self._targets.store(s3_action["BucketName"], key, raw, source_arn, account):
                    _log.warning("%s: could not store the message in %s", source_arn, s3_action["BucketName"])
                receipt = receipt_object(rule, matched, described, received, self._now())
                await self._tell(s3_action.get("TopicArn"), mail, receipt, None, source_arn)
            elif (sns_action := action.get("SNSAction")) is not None:
                encoding = sns_action.get("Encoding", "UTF-8")
                described = {
                    "type": "SNS",
                    "topicArn": sns_action["TopicArn"],
                    "encoding": "BASE64" if encoding == "Base64" else "UTF8",
                }
                receipt = receipt_object(rule, matched, described, received, self._now())
                document = notification(mail, receipt, raw, encoding)
                await self._targets.publish(
                    sns_action["TopicArn"], json.dumps(document).encode(), source_arn, account
                )
            elif (stop_action := action.get("StopAction")) is not None:
                described = {"type": "Stop"}
                if stop_action.get("TopicArn"):
                    described["topicArn"] = stop_action["TopicArn"]
                receipt = receipt_object(rule, matched, described, received, self._now())
                await self._tell(stop_action.get("TopicArn"), mail, receipt, None, source_arn)
                return _STOP_RULE_SET
            else:
                _log.warning(
                    "%s: %s actions are kept but not performed by Lamina", source_arn, next(iter(action), "?")
                )
        return None

    async def _tell(
        self,
        topic: str | None,
        mail: dict[str, Any],
        receipt: dict[str, Any],
        raw: bytes | None,
        source_arn: str,
    ) -> None:
        if topic:
            body = json.dumps(notification(mail, receipt, raw)).encode()
            await self._targets.publish(topic, body, source_arn, self._account)


def _disposition(result: bytes | None) -> str | None:
    if not result:
        return None
    try:
        document = json.loads(result)
    except ValueError:
        return None
    return str(document.get("disposition", "")).upper() if isinstance(document, dict) else None
