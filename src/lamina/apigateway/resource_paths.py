"""Which resource of an API a request path reaches, and its path parameters: a literal path part
wins over `{param}`, which wins over a greedy `{proxy+}` (one or more remaining segments), as API
Gateway chooses ("Set up a proxy integration with a proxy resource")."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

__all__ = ["PathTree", "check_path_part"]

_PARAM = re.compile(r"\{([A-Za-z0-9._\-]+)\}")
_GREEDY = re.compile(r"\{([A-Za-z0-9._\-]+)\+\}")
_LITERAL = re.compile(r"[A-Za-z0-9._\-:$@=+,~!'*()]+")


def check_path_part(part: str) -> str | None:
    """Why `part` cannot be a resource's path part, or None when it can."""
    if _PARAM.fullmatch(part) or _GREEDY.fullmatch(part) or _LITERAL.fullmatch(part):
        return None
    return (
        "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end "
        "and an optional plus sign before the closing brace."
    )


@dataclass
class _Node:
    resource_id: str | None = None
    literals: dict[str, _Node] = field(default_factory=dict)
    param: tuple[str, _Node] | None = None
    greedy: tuple[str, str] | None = None  # (name, resource id)


class PathTree:
    """The resources of one API (or one deployment of it), indexed for matching."""

    def __init__(self, resources: Iterable[tuple[str, str]]) -> None:
        """`resources`: (resource id, path) pairs, such as ("abc123", "/pets/{id}")."""
        self._root = _Node()
        for resource_id, path in resources:
            self._add(resource_id, path)

    def _add(self, resource_id: str, path: str) -> None:
        node = self._root
        for part in [part for part in path.split("/") if part]:
            greedy = _GREEDY.fullmatch(part)
            if greedy is not None:
                node.greedy = (greedy.group(1), resource_id)
                return
            param = _PARAM.fullmatch(part)
            if param is not None:
                if node.param is None:
                    node.param = (param.group(1), _Node())
                node = node.param[1]
            else:
                node = node.literals.setdefault(part, _Node())
        node.resource_id = resource_id

    def match(self, path: str) -> tuple[str, dict[str, str]] | None:
        """(resource id, path parameters) of the resource `path` reaches; None when none does."""
        segments = [unquote(part) for part in path.split("/") if part]
        return _match(self._root, segments, 0, {})


def _match(
    node: _Node, segments: list[str], index: int, params: dict[str, str]
) -> tuple[str, dict[str, str]] | None:
    if index == len(segments):
        if node.resource_id is not None:
            return node.resource_id, params
        return None
    segment = segments[index]
    literal = node.literals.get(segment)
    if literal is not None:
        found = _match(literal, segments, index + 1, params)
        if found is not None:
            return found
    if node.param is not None:
        name, child = node.param
        found = _match(child, segments, index + 1, {**params, name: segment})
        if found is not None:
            return found
    if node.greedy is not None:
        name, resource_id = node.greedy
        return resource_id, {**params, name: "/".join(segments[index:])}
    return None
