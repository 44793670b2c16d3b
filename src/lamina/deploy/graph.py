"""The order of a stack's resources: a resource depends on those its properties name (Ref, GetAtt,
Sub) and those in its DependsOn; creation follows the edges (independent resources together),
deletion goes against them. A cycle is a template error, as CloudFormation reports it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from lamina.deploy.errors import template_error
from lamina.deploy.intrinsics import references

__all__ = ["dependencies", "dependents"]


def dependencies(resources: Mapping[str, dict[str, Any]], active: Collection[str]) -> dict[str, set[str]]:
    """For each active resource, the active resources it depends on; template errors for a
    DependsOn naming no resource and for cycles."""
    active_set = set(active)
    edges: dict[str, set[str]] = {}
    for logical in active_set:
        resource = resources[logical]
        needs = references({key: value for key, value in resource.items() if key != "DependsOn"}, resources)
        depends_on = resource.get("DependsOn") or []
        for name in [depends_on] if isinstance(depends_on, str) else depends_on:
            if name not in resources:
                raise template_error(
                    f"Unresolved resource dependencies [{name}] in the Resources block of the template"
                )
            needs.add(str(name))
        edges[logical] = needs & active_set  # a resource naming itself is a cycle
    _check_acyclic(edges)
    return edges


def _check_acyclic(edges: dict[str, set[str]]) -> None:
    remaining = {node: set(needs) for node, needs in edges.items()}
    while remaining:
        free = [node for node, needs in remaining.items() if not needs]
        if not free:
            raise template_error(f"Circular dependency between resources: [{', '.join(sorted(remaining))}]")
        for node in free:
            del remaining[node]
        for needs in remaining.values():
            needs.difference_update(free)


def dependents(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The reverse edges: for each resource, those that depend on it."""
    reverse: dict[str, set[str]] = {node: set() for node in edges}
    for node, needs in edges.items():
        for need in needs:
            reverse.setdefault(need, set()).add(node)
    return reverse
