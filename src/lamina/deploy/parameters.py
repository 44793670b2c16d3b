"""A stack's parameter values: what the caller gave, or the template's defaults, checked against
the parameter's Type, AllowedValues, AllowedPattern, lengths and bounds ("Parameters" in the
template anatomy); NoEcho values are shown as `****`."""

from __future__ import annotations

from typing import Any

from lamina.deploy.errors import validation_error
from lamina.domain.owner_regexes import full_match

__all__ = ["MASK", "displayed_parameters", "resolve_parameters"]

MASK = "****"
_LIST_TYPES = ("CommaDelimitedList", "List<Number>")


def _check(name: str, spec: dict[str, Any], value: str) -> Any:
    kind = str(spec.get("Type", "String"))
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(item) for item in allowed]:
        raise validation_error(f"Parameter '{name}' must be one of AllowedValues")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not full_match(str(pattern), value):
        raise validation_error(f"Parameter '{name}' must match pattern {pattern}")
    for bound, test in (("MinLength", lambda n: len(value) >= n), ("MaxLength", lambda n: len(value) <= n)):
        if bound in spec and not test(int(float(spec[bound]))):
            raise validation_error(
                f"Parameter '{name}' must contain at {'least' if bound == 'MinLength' else 'most'} {spec[bound]} characters"
            )
    if kind == "Number" or kind == "List<Number>":
        numbers = value.split(",") if kind == "List<Number>" else [value]
        for number in numbers:
            try:
                parsed = float(number)
            except ValueError:
                raise validation_error(f"Parameter '{name}' must be a number") from None
            if "MinValue" in spec and parsed < float(spec["MinValue"]):
                raise validation_error(
                    f"Parameter '{name}' must be a number not less than {spec['MinValue']}"
                )
            if "MaxValue" in spec and parsed > float(spec["MaxValue"]):
                raise validation_error(
                    f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}"
                )
    if kind in _LIST_TYPES:
        return [item.strip() for item in value.split(",")] if value else []
    return value


def resolve_parameters(
    specs: dict[str, dict[str, Any]], given: list[dict[str, Any]], previous: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """(values as the template sees them, the raw text of each for DescribeStacks)."""
    supplied: dict[str, str] = {}
    for entry in given:
        key = str(entry.get("ParameterKey", ""))
        if entry.get("UsePreviousValue"):
            if previous is None or key not in previous:
                raise validation_error(
                    f"Invalid input for parameter key {key}. Cannot specify usePreviousValue as true for a parameter key not in the previous template"
                )
            supplied[key] = previous[key]
        else:
            supplied[key] = str(entry.get("ParameterValue", ""))
    unknown = sorted(set(supplied) - set(specs))
    if unknown:
        raise validation_error(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    missing = sorted(
        name for name, spec in specs.items() if name not in supplied and "Default" not in (spec or {})
    )
    if missing:
        raise validation_error(f"Parameters: [{', '.join(missing)}] must have values")
    values: dict[str, Any] = {}
    raw: dict[str, str] = {}
    for name, spec in specs.items():
        spec = spec or {}
        default = spec.get("Default")
        text = supplied.get(name, ",".join(map(str, default)) if isinstance(default, list) else str(default))
        values[name] = _check(name, spec, text)
        raw[name] = text
    return values, raw


def displayed_parameters(specs: dict[str, dict[str, Any]], raw: dict[str, str]) -> list[dict[str, str]]:
    """DescribeStacks' Parameters: NoEcho ones masked."""
    shown = []
    for name, text in raw.items():
        no_echo = str((specs.get(name) or {}).get("NoEcho", "false")).lower() == "true"
        shown.append({"ParameterKey": name, "ParameterValue": MASK if no_echo else text})
    return shown
