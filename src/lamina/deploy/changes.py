"""The plan of a stack update, as DescribeChangeSet shows it: which resources are added, modified
(in place, or replaced when a property that replaces them changed, or "Conditional" when a value
is only known once what it depends on is made), and removed."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from lamina.deploy.intrinsics import Evaluator, Unresolved
from lamina.deploy.providers.registry import provider_for
from lamina.deploy.templates import Template
from lamina.errors import AwsError

__all__ = ["LIVE", "plan_changes", "replaces"]

# Resource states in which the resource exists (it was made, or is being changed).
LIVE = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_IN_PROGRESS", "UPDATE_FAILED"})


def replaces(kind: str, changed: Collection[str]) -> bool:
    """Whether changing these properties of a resource of type `kind` replaces it."""
    provider = provider_for(kind)
    return provider is not None and bool(set(changed) & provider.replaced_by)


def _changed_properties(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))


def plan_changes(
    records: dict[str, dict[str, Any]], template: Template, evaluator: Evaluator, active: Collection[str]
) -> list[dict[str, Any]]:
    """The ResourceChange entries of moving `records` (the stack's resources now) to `template`."""
    changes: list[dict[str, Any]] = []
    for logical in sorted(active):
        resource = template.resources[logical]
        kind = resource["Type"]
        record = records.get(logical)
        if record is None or record.get("ResourceStatus") not in LIVE:
            changes.append(
                {
                    "Action": "Add",
                    "LogicalResourceId": logical,
                    "ResourceType": kind,
                    "Scope": [],
                    "Details": [],
                }
            )
            continue
        base = {
            "Action": "Modify",
            "LogicalResourceId": logical,
            "ResourceType": kind,
            "PhysicalResourceId": record.get("PhysicalResourceId"),
        }
        if record["ResourceType"] != kind:
            changes.append({**base, "Replacement": "True", "Scope": ["Properties"], "Details": []})
            continue
        try:
            properties = evaluator.resolve(resource.get("Properties") or {})
        except Unresolved:
            changes.append({**base, "Replacement": "Conditional", "Scope": ["Properties"], "Details": []})
            continue
        except AwsError:
            raise
        changed = _changed_properties(record.get("properties") or {}, properties)
        if not changed:
            continue
        replaced = replaces(kind, changed)
        details = [
            {
                "Target": {
                    "Attribute": "Properties",
                    "Name": name,
                    "RequiresRecreation": "Always" if replaces(kind, [name]) else "Never",
                },
                "Evaluation": "Static",
                "ChangeSource": "DirectModification",
            }
            for name in changed
        ]
        changes.append(
            {
                **base,
                "Replacement": "True" if replaced else "False",
                "Scope": ["Properties"],
                "Details": details,
            }
        )
    for logical, record in sorted(records.items()):
        if logical not in active and record.get("ResourceStatus") in LIVE:
            changes.append(
                {
                    "Action": "Remove",
                    "LogicalResourceId": logical,
                    "ResourceType": record["ResourceType"],
                    "PhysicalResourceId": record.get("PhysicalResourceId"),
                    "Scope": [],
                    "Details": [],
                }
            )
    return changes
