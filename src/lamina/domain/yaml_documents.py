"""YAML and JSON as owners write them for machines to read (CloudFormation templates, OpenAPI
definitions), checked before a parser builds them: aliases are refused, because expanding them is
how a few hundred bytes become gigabytes (an alias bomb), and neither CloudFormation nor API
Gateway accepts them; and nesting is bounded, because the parsers recurse once per level (a
document of a few hundred kilobytes of `[[[[…` held a parser for minutes, then overflowed the
stack)."""

from __future__ import annotations

import re

import yaml

__all__ = ["MAX_NESTING", "has_aliases", "nesting_problem"]

MAX_NESTING = 100  # far beyond any template or definition; each level costs the parsers a frame
_BRACKETS = re.compile(r"[\[\]{}]")


def has_aliases(text: str) -> bool:
    """True when the YAML text uses an alias (`*name`); False for JSON and for text that does not
    parse (the caller's loader reports that)."""
    if text.lstrip().startswith("{"):
        return False  # JSON: no aliases
    try:
        return any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError):
        return False


def nesting_problem(text: str, limit: int = MAX_NESTING) -> str | None:
    """Why the text nests too deeply to be parsed, or None. Counts brackets (JSON, YAML flow
    collections) and indentation steps (YAML blocks), one linear pass; brackets inside quoted
    strings count too, which only makes the bound a little stricter for odd documents."""
    depth = 0
    for match in _BRACKETS.finditer(text):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return f"the document nests more than {limit} levels deep"
        else:
            depth -= 1
    indents: list[int] = []
    for line in text.splitlines():
        stripped = line.lstrip(" -")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        while indents and indents[-1] >= indent:
            indents.pop()
        indents.append(indent)
        if len(indents) > limit:
            return f"the document nests more than {limit} levels deep"
    return None
