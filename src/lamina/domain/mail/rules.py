"""Receipt rule sets and rules (SES developer guide, "Receipt rules"): a rule set holds rules in
order; the one active rule set of an account-region decides what happens to incoming mail. A
rule takes a message for its Recipients (all, when it names none): an address matches itself, a
domain (`example.com`) every address at that domain, and `.example.com` every address at its
subdomains. Its actions run in order: Lambda, S3, SNS, Stop (and AddHeader, Bounce, WorkMail,
Connect, which Lamina keeps but does not perform).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lamina.domain.mail import errors

__all__ = ["RuleSet", "check_rule", "matching_recipients", "takes"]

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")
MAX_RULES = 200  # SES quota: receipt rules per rule set
ACTIONS = (
    "S3Action",
    "BounceAction",
    "WorkmailAction",
    "LambdaAction",
    "StopAction",
    "AddHeaderAction",
    "SNSAction",
    "ConnectAction",
)


def check_name(name: str, what: str) -> None:
    if not _NAME.fullmatch(name):
        raise errors.invalid(
            f"Invalid {what} name <{name}>: names must start and end with a letter or number, "
            "contain only letters, numbers, periods, underscores and dashes, and be at most 64 characters."
        )


def check_rule(rule: dict[str, Any]) -> None:
    check_name(str(rule.get("Name", "")), "rule")
    for recipient in rule.get("Recipients") or []:
        if not recipient or " " in recipient or recipient.count("@") > 1:
            raise errors.invalid(f"Invalid recipient: {recipient}")
    for action in rule.get("Actions") or []:
        kinds = [kind for kind in ACTIONS if action.get(kind)]
        if len(kinds) != 1:
            raise errors.invalid("Each action must name exactly one action type.")
        if "LambdaAction" in kinds and action["LambdaAction"].get("InvocationType", "Event") not in (
            "Event",
            "RequestResponse",
        ):
            raise errors.invalid("InvocationType must be Event or RequestResponse.")


def takes(recipients: Sequence[str], address: str) -> bool:
    """Whether a rule with these Recipients takes mail for `address` (case-insensitive)."""
    if not recipients:
        return True
    address = address.lower()
    domain = address.rpartition("@")[2]
    for recipient in recipients:
        recipient = recipient.lower()
        if "@" in recipient:
            if address == recipient:
                return True
        elif recipient.startswith("."):
            if domain.endswith(recipient):
                return True
        elif domain == recipient:
            return True
    return False


def matching_recipients(rule: dict[str, Any], addresses: Sequence[str]) -> list[str]:
    return [address for address in addresses if takes(rule.get("Recipients") or [], address)]


@dataclass(frozen=True, slots=True)
class RuleSet:
    name: str
    created_at: float
    rules: tuple[dict[str, Any], ...] = field(default=())  # ReceiptRule wire documents, in order

    def to_document(self) -> dict[str, Any]:
        return {"created_at": self.created_at, "rules": list(self.rules)}

    @classmethod
    def from_document(cls, name: str, document: dict[str, Any]) -> RuleSet:
        return cls(name, document["created_at"], tuple(document.get("rules", [])))

    def index_of(self, rule_name: str) -> int:
        for index, rule in enumerate(self.rules):
            if rule["Name"] == rule_name:
                return index
        raise errors.rule_not_found(rule_name)

    def with_rule(self, rule: dict[str, Any], after: str | None) -> RuleSet:
        """The set with `rule` added after the rule named `after` (first, without one)."""
        if any(existing["Name"] == rule["Name"] for existing in self.rules):
            raise errors.already_exists(f"Rule {rule['Name']}")
        if len(self.rules) >= MAX_RULES:
            raise errors.invalid(f"A rule set holds at most {MAX_RULES} rules.")
        position = self.index_of(after) + 1 if after else 0
        return RuleSet(self.name, self.created_at, (*self.rules[:position], rule, *self.rules[position:]))

    def replacing(self, rule: dict[str, Any]) -> RuleSet:
        index = self.index_of(rule["Name"])
        return RuleSet(self.name, self.created_at, (*self.rules[:index], rule, *self.rules[index + 1 :]))

    def without(self, rule_name: str) -> RuleSet:
        return RuleSet(
            self.name, self.created_at, tuple(rule for rule in self.rules if rule["Name"] != rule_name)
        )

    def moved(self, rule_name: str, after: str | None) -> RuleSet:
        rule = self.rules[self.index_of(rule_name)]
        return self.without(rule_name).with_rule(rule, after)
