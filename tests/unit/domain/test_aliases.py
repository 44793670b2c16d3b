"""Alias records: weighted version choice, provisioned shares, routing rules, storage form."""

from __future__ import annotations

import pytest

from lamina.domain.aliases import ALIAS_NAME, Alias, check_routing, routing_weights
from lamina.domain.code import CodeDigest
from lamina.domain.functions import LATEST, FunctionConfig
from lamina.errors import AwsError

CODE = CodeDigest("ab" * 32, "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=", 10)


def version(number: str, role: str = "role") -> FunctionConfig:
    return FunctionConfig("f", "python3.12", "app.handler", role, CODE, version=number)


def test_an_alias_without_routing_always_runs_its_version() -> None:
    alias = Alias("f", "live", "3")
    assert {alias.pick_version(draw / 10) for draw in range(10)} == {"3"}
    assert alias.pick_version() == "3"


def test_a_weighted_alias_sends_the_weight_to_the_additional_version() -> None:
    alias = Alias("f", "live", "1", weights={"2": 0.25})
    assert [alias.pick_version(draw) for draw in (0.0, 0.2, 0.25, 0.5, 0.99)] == ["2", "2", "1", "1", "1"]
    drawn = [alias.pick_version() for _ in range(4000)]
    assert 800 < drawn.count("2") < 1200  # 1000 expected; the bound is ten standard deviations wide


@pytest.mark.parametrize(
    ("weights", "total", "shares"),
    [
        ({}, 5, {"1": 5}),
        ({"2": 0.5}, 4, {"1": 2, "2": 2}),
        ({"2": 0.2}, 10, {"1": 8, "2": 2}),
        ({"2": 0.01}, 3, {"1": 3}),
        ({"2": 1.0}, 3, {"2": 3}),
    ],
)
def test_provisioned_shares_follow_the_weights(
    weights: dict[str, float], total: int, shares: dict[str, int]
) -> None:
    alias = Alias("f", "live", "1", weights=weights)
    assert alias.shares(total) == shares
    assert sum(alias.shares(total).values()) == total


def test_to_api_is_the_alias_configuration_shape() -> None:
    alias = Alias("f", "live", "1", "prod", {"2": 0.1}, revision_id="r")
    assert alias.to_api("arn:x") == {
        "AliasArn": "arn:x",
        "Name": "live",
        "FunctionVersion": "1",
        "Description": "prod",
        "RevisionId": "r",
        "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}},
    }
    assert "RoutingConfig" not in Alias("f", "live", "1").to_api("arn:x")


def test_records_round_trip_and_changes_get_a_new_revision() -> None:
    alias = Alias("f", "live", "1", "d", {"2": 0.5})
    assert Alias.from_record(alias.to_record()) == alias
    changed = alias.with_changes(function_version="2", weights={})
    assert (changed.function_version, changed.weights) == ("2", {})
    assert changed.revision_id != alias.revision_id


def test_routing_weights_allow_one_additional_version() -> None:
    assert routing_weights(None) == {}
    assert routing_weights({"AdditionalVersionWeights": {"2": 0.5}}) == {"2": 0.5}
    with pytest.raises(AwsError) as raised:
        routing_weights({"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}})
    assert raised.value.code == "InvalidParameterValueException"


@pytest.mark.parametrize(
    ("primary", "additional", "message"),
    [
        (
            version(LATEST),
            version("2"),
            "$LATEST is not supported for an alias pointing to more than 1 version",
        ),
        (version("2"), version("2"), "Function version 2 is already included in routing configuration."),
        (version("1"), version("2", role="other"), "must have the same execution role"),
    ],
)
def test_routing_rules(primary: FunctionConfig, additional: FunctionConfig, message: str) -> None:
    with pytest.raises(AwsError) as raised:
        check_routing(primary, {additional.version: additional}, {additional.version: 0.5})
    assert raised.value.code == "InvalidParameterValueException"
    assert message in raised.value.message


def test_routing_rules_accept_two_published_versions_with_one_role() -> None:
    check_routing(version("1"), {"2": version("2")}, {"2": 0.5})
    check_routing(version(LATEST), {}, {})


@pytest.mark.parametrize(
    ("name", "valid"), [("live", True), ("v-1_a", True), ("12", False), ("a$b", False), ("", False)]
)
def test_alias_names(name: str, valid: bool) -> None:
    assert bool(ALIAS_NAME.fullmatch(name)) is valid
