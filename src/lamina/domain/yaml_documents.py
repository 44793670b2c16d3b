"""YAML as owners write it for machines to read (CloudFormation templates, OpenAPI definitions):
aliases are refused before the document is built, because expanding them is how a few hundred
bytes become gigabytes (an alias bomb), and neither CloudFormation nor API Gateway accepts them."""

from __future__ import annotations

import yaml

__all__ = ["has_aliases"]


def has_aliases(text: str) -> bool:
    """True when the YAML text uses an alias (`*name`); False for JSON and for text that does not
    parse (the caller's loader reports that)."""
    if text.lstrip().startswith("{"):
        return False  # JSON: no aliases
    try:
        return any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return False
