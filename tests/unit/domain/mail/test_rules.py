"""Which recipients a receipt rule takes, and rule set ordering (SES developer guide, "Receipt
rules": addresses, domains and `.subdomains`)."""

from __future__ import annotations

import pytest

from lamina.domain.mail.rules import RuleSet, check_rule, takes
from lamina.errors import AwsError


@pytest.mark.parametrize(
    ("recipients", "address", "taken"),
    [
        ([], "anyone@anywhere.org", True),
        (["support@example.com"], "support@example.com", True),
        (["support@example.com"], "SUPPORT@Example.com", True),
        (["support@example.com"], "sales@example.com", False),
        (["example.com"], "sales@example.com", True),
        (["example.com"], "sales@eu.example.com", False),
        ([".example.com"], "sales@eu.example.com", True),
        ([".example.com"], "sales@example.com", False),
        (["example.com"], "sales@notexample.com", False),
        (["a@x.org", "y.org"], "b@y.org", True),
    ],
)
def test_recipients(recipients: list[str], address: str, taken: bool) -> None:
    assert takes(recipients, address) is taken


def test_rules_keep_their_order() -> None:
    rule_set = RuleSet("s", 0.0)
    rule_set = (
        rule_set.with_rule({"Name": "a"}, None).with_rule({"Name": "b"}, None).with_rule({"Name": "c"}, "b")
    )
    assert [rule["Name"] for rule in rule_set.rules] == ["b", "c", "a"]
    assert [rule["Name"] for rule in rule_set.moved("b", "a").rules] == ["c", "a", "b"]
    assert [rule["Name"] for rule in rule_set.without("c").rules] == ["b", "a"]
    with pytest.raises(AwsError) as duplicate:
        rule_set.with_rule({"Name": "a"}, None)
    assert duplicate.value.code == "AlreadyExists"
    with pytest.raises(AwsError) as missing:
        rule_set.with_rule({"Name": "d"}, "zz")
    assert missing.value.code == "RuleDoesNotExist"


@pytest.mark.parametrize(
    "rule",
    [
        {"Name": "-starts-with-a-dash"},
        {"Name": "x" * 65},
        {"Name": "ok", "Actions": [{}]},
        {"Name": "ok", "Actions": [{"StopAction": {"Scope": "RuleSet"}, "SNSAction": {"TopicArn": "t"}}]},
        {"Name": "ok", "Actions": [{"LambdaAction": {"FunctionArn": "f", "InvocationType": "Later"}}]},
        {"Name": "ok", "Recipients": ["two words"]},
    ],
)
def test_refused_rules(rule: dict[str, object]) -> None:
    with pytest.raises(AwsError):
        check_rule(rule)  # type: ignore[arg-type]
