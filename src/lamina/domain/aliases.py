"""Aliases: named pointers to a function version, optionally splitting traffic with a second one.

Rules from the Lambda developer guide ("Lambda function aliases", "weighted alias"): an alias
points to $LATEST or a published version; a weighted alias routes a share (0.0–1.0) of its
invocations to exactly one additional version, and then both versions must be published and use
the same execution role and dead-letter queue. Routing is a plain probabilistic draw per invocation, as AWS describes it.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field, replace
from typing import Any

from lamina.domain.functions import LATEST, FunctionConfig, new_revision_id
from lamina.errors import invalid_parameter

MAX_ADDITIONAL_VERSIONS = 1
# CreateAlias's Name pattern: letters, digits, '-' and '_', not all digits (that is a version).
ALIAS_NAME = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}")


@dataclass(frozen=True, slots=True)
class Alias:
    """One alias of one function; a change produces a new record with a new RevisionId."""

    function_name: str
    name: str
    function_version: str
    description: str = ""
    # The additional version and the share of invocations it gets; empty without routing.
    weights: dict[str, float] = field(default_factory=dict)
    revision_id: str = field(default_factory=new_revision_id)

    def versions(self) -> list[str]:
        """Every version this alias can run: its own first, then the additional one."""
        return [self.function_version, *self.weights]

    def pick_version(self, draw: float | None = None) -> str:
        """The version one invocation runs; `draw` in [0, 1) replaces the random number (tests)."""
        if not self.weights:
            return self.function_version
        point = random.random() if draw is None else draw
        for version, weight in self.weights.items():
            if point < weight:
                return version
            point -= weight
        return self.function_version

    def shares(self, total: int) -> dict[str, int]:
        """How `total` environments (provisioned concurrency) divide between the versions, in
        proportion to the traffic each gets."""
        shares: dict[str, int] = {}
        remaining = total
        for version, weight in self.weights.items():
            shares[version] = round(total * weight)
            remaining -= shares[version]
        shares[self.function_version] = shares.get(self.function_version, 0) + max(0, remaining)
        return {version: count for version, count in shares.items() if count > 0}

    def with_changes(self, **changes: Any) -> Alias:
        changes.setdefault("revision_id", new_revision_id())
        return replace(self, **changes)

    def to_api(self, arn: str) -> dict[str, Any]:
        """The AliasConfiguration shape of botocore's Lambda model."""
        output: dict[str, Any] = {
            "AliasArn": arn,
            "Name": self.name,
            "FunctionVersion": self.function_version,
            "Description": self.description,
            "RevisionId": self.revision_id,
        }
        if self.weights:
            output["RoutingConfig"] = {"AdditionalVersionWeights": dict(self.weights)}
        return output

    def to_record(self) -> dict[str, Any]:
        return {
            "function_name": self.function_name,
            "name": self.name,
            "function_version": self.function_version,
            "description": self.description,
            "weights": dict(self.weights),
            "revision_id": self.revision_id,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Alias:
        return cls(**record)

    def dumps(self) -> str:
        return json.dumps(self.to_record(), separators=(",", ":"))


def routing_weights(routing_config: dict[str, Any] | None) -> dict[str, float]:
    """AdditionalVersionWeights from a RoutingConfig parameter (the model has checked each weight
    is within 0.0–1.0 and each key is a version number)."""
    weights = dict((routing_config or {}).get("AdditionalVersionWeights") or {})
    if len(weights) > MAX_ADDITIONAL_VERSIONS:
        raise invalid_parameter(
            f"Number of items in AdditionalVersionWeights must be at most {MAX_ADDITIONAL_VERSIONS}."
        )
    return {str(version): float(weight) for version, weight in weights.items()}


def check_routing(
    primary: FunctionConfig, additional: dict[str, FunctionConfig], weights: dict[str, float]
) -> None:
    """The rules a weighted alias must satisfy, given the configurations of its versions."""
    if not weights:
        return
    if primary.version == LATEST:
        raise invalid_parameter("$LATEST is not supported for an alias pointing to more than 1 version")
    for version, config in additional.items():
        if version == primary.version:
            raise invalid_parameter(
                f"Invalid function version {version}. Function version {version} is already included "
                "in routing configuration."
            )
        if config.dead_letter_target != primary.dead_letter_target:
            raise invalid_parameter(
                f"Function versions {primary.version} and {version} of an alias with routing "
                "configuration must have the same dead-letter queue configuration."
            )
        if config.role != primary.role:
            raise invalid_parameter(
                f"Function versions {primary.version} and {version} of an alias with routing "
                "configuration must have the same execution role."
            )
