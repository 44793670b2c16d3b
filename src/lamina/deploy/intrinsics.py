"""Intrinsic functions, pseudo parameters and condition functions, evaluated as CloudFormation
evaluates them ("Intrinsic function reference"): `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`,
`Fn::Select`, `Fn::Split`, `Fn::If`, `Fn::Equals`, `Fn::And`, `Fn::Or`, `Fn::Not`, `Fn::FindInMap`,
`Fn::GetAZs`, `Fn::Base64`, `Fn::ImportValue`, `Condition`; `AWS::NoValue` removes the property
or list item it stands for.

`references` finds what a value depends on (resources named by Ref, GetAtt or Sub): the edges of
a stack's dependency graph."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

from lamina.deploy.errors import template_error

__all__ = ["NO_VALUE", "Evaluator", "Unresolved", "references"]

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
_SUB_LITERAL = re.compile(r"\$\{!")
FUNCTIONS = frozenset(
    {
        "Ref",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::If",
        "Fn::Equals",
        "Fn::And",
        "Fn::Or",
        "Fn::Not",
        "Fn::FindInMap",
        "Fn::GetAZs",
        "Fn::Base64",
        "Fn::ImportValue",
        "Condition",
    }
)


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class Unresolved(Exception):
    """A value names something that has no value yet (a resource not created): the caller waits
    for it, or it is a template error."""


def _function_of(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, dict) and len(value) == 1:
        name, argument = next(iter(value.items()))
        if name in FUNCTIONS:
            return name, argument
    return None


def _sub_names(text: str) -> list[str]:
    return [match.group(1).strip() for match in _SUB_VARIABLE.finditer(text)]


def references(value: Any, resources: Mapping[str, Any]) -> set[str]:
    """The logical ids of `resources` that `value` refers to."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        function = _function_of(item)
        if function is not None:
            name, argument = function
            if name == "Ref" and isinstance(argument, str) and argument in resources:
                found.add(argument)
            elif name == "Fn::GetAtt":
                target = argument.split(".", 1)[0] if isinstance(argument, str) else (argument or [None])[0]
                if isinstance(target, str) and target in resources:
                    found.add(target)
            elif name == "Fn::Sub":
                if isinstance(argument, str):
                    text, variables = argument, {}
                elif isinstance(argument, list) and len(argument) == 2:
                    text, variables = argument
                else:
                    return
                if isinstance(text, str):
                    for variable in _sub_names(text):
                        head = variable.split(".", 1)[0]
                        if head in resources and head not in (variables or {}):
                            found.add(head)
                walk(variables)
                return
            walk(argument)
            return
        if isinstance(item, dict):
            for child in item.values():
                walk(child)
        elif isinstance(item, list):
            for child in item:
                walk(child)

    walk(value)
    return found


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise template_error(f"{where}: expected a string, got {type(value).__name__}")


class Evaluator:
    """Evaluates values of one template for one stack operation."""

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, Any],
        mappings: Mapping[str, Any],
        conditions: Mapping[str, Any],
        physical_id: Callable[[str], Any],
        attribute: Callable[[str, str], Any],
        import_value: Callable[[str], Any],
        resource_names: frozenset[str],
    ) -> None:
        """`physical_id(logical)` and `attribute(logical, name)` raise Unresolved for a resource
        that has no value yet."""
        self._parameters = parameters
        self._pseudo = pseudo
        self._mappings = mappings
        self._condition_definitions = conditions
        self._conditions: dict[str, bool] = {}
        self._physical_id = physical_id
        self._attribute = attribute
        self._import_value = import_value
        self._resources = resource_names
        self._evaluating: set[str] = set()

    def condition(self, name: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        if name not in self._condition_definitions:
            raise template_error(f"Unresolved condition dependency {name}")
        if name in self._evaluating:
            raise template_error(f"Circular dependency between conditions: {name}")
        self._evaluating.add(name)
        try:
            result = self.resolve(self._condition_definitions[name])
        finally:
            self._evaluating.discard(name)
        if not isinstance(result, bool):
            raise template_error(f"Condition {name} does not evaluate to true or false")
        self._conditions[name] = result
        return result

    def resolve(self, value: Any) -> Any:
        """`value` with every function evaluated; NO_VALUE where AWS::NoValue stands."""
        function = _function_of(value)
        if function is not None:
            try:
                return self._call(*function)
            except (TypeError, ValueError, OverflowError, KeyError, AttributeError, IndexError) as error:
                # arguments of the wrong shape (a list where a name goes, a float index…)
                raise template_error(
                    f"{function[0]}: invalid arguments ({type(error).__name__}: {error})"
                ) from None
        if isinstance(value, dict):
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        return value

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        if name in self._resources:
            return self._physical_id(name)
        raise template_error(
            f"Unresolved resource dependencies [{name}] in the Resources block of the template"
        )

    def _get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            logical, _, attribute = argument.partition(".")
        elif isinstance(argument, list) and len(argument) == 2:
            logical, attribute = argument[0], self.resolve(argument[1])
        else:
            raise template_error("Fn::GetAtt takes [resource, attribute] or 'resource.attribute'")
        if not isinstance(logical, str) or logical not in self._resources:
            raise template_error(
                f"Template error: instance of Fn::GetAtt references undefined resource {logical}"
            )
        return self._attribute(str(logical), str(attribute))

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text, variables = argument[0], {name: self.resolve(item) for name, item in argument[1].items()}
        else:
            raise template_error("Fn::Sub takes a string or [string, {variables}]")
        if not isinstance(text, str):
            raise template_error("Fn::Sub's template must be a string")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return _text(variables[name], "Fn::Sub")
            if "." in name and name.split(".", 1)[0] in self._resources:
                head, attribute = name.split(".", 1)
                return _text(self._attribute(head, attribute), "Fn::Sub")
            return _text(self.ref(name), "Fn::Sub")

        replaced = _SUB_VARIABLE.sub(replace, text)
        if "${" in _SUB_LITERAL.sub("", replaced):
            raise template_error(f"Fn::Sub: unbalanced ${{ in {text[:100]!r}")
        return _SUB_LITERAL.sub("${", replaced)

    def _call(self, name: str, argument: Any) -> Any:
        if name == "Ref":
            return self.ref(str(argument))
        if name == "Condition":
            return self.condition(str(argument))
        if name == "Fn::GetAtt":
            return self._get_att(argument)
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::If":
            if not isinstance(argument, list) or len(argument) != 3:
                raise template_error("Fn::If takes [condition, value if true, value if false]")
            return self.resolve(argument[1] if self.condition(str(argument[0])) else argument[2])
        arguments = self.resolve(argument)
        if name == "Fn::Join":
            if not isinstance(arguments, list) or len(arguments) != 2 or not isinstance(arguments[1], list):
                raise template_error("Fn::Join takes [delimiter, [values]]")
            return _text(arguments[0], "Fn::Join").join(_text(item, "Fn::Join") for item in arguments[1])
        if name == "Fn::Select":
            if not isinstance(arguments, list) or len(arguments) != 2 or not isinstance(arguments[1], list):
                raise template_error("Fn::Select takes [index, [values]]")
            try:
                index = int(arguments[0])
                if index < 0:
                    raise IndexError(index)
                return arguments[1][index]
            except (ValueError, IndexError):
                raise template_error(
                    f"Fn::Select cannot select {arguments[0]} from a list of {len(arguments[1])}"
                ) from None
        if name == "Fn::Split":
            if not isinstance(arguments, list) or len(arguments) != 2:
                raise template_error("Fn::Split takes [delimiter, text]")
            return _text(arguments[1], "Fn::Split").split(_text(arguments[0], "Fn::Split"))
        if name == "Fn::Equals":
            if not isinstance(arguments, list) or len(arguments) != 2:
                raise template_error("Fn::Equals takes two values")
            return _comparable(arguments[0]) == _comparable(arguments[1])
        if name in ("Fn::And", "Fn::Or"):
            if not isinstance(arguments, list) or not 2 <= len(arguments) <= 10:
                raise template_error(f"{name} takes from 2 to 10 conditions")
            if not all(isinstance(item, bool) for item in arguments):
                raise template_error(f"{name} takes conditions")
            return all(arguments) if name == "Fn::And" else any(arguments)
        if name == "Fn::Not":
            if not isinstance(arguments, list) or len(arguments) != 1 or not isinstance(arguments[0], bool):
                raise template_error("Fn::Not takes [condition]")
            return not arguments[0]
        if name == "Fn::FindInMap":
            return self._find_in_map(arguments)
        if name == "Fn::GetAZs":
            if not isinstance(arguments, str):
                raise template_error("Fn::GetAZs takes a region name (or an empty string)")
            region = arguments or self._pseudo["AWS::Region"]
            return [f"{region}{letter}" for letter in "abc"]
        if name == "Fn::Base64":
            return base64.b64encode(_text(arguments, "Fn::Base64").encode()).decode()
        if name == "Fn::ImportValue":
            return self._import_value(_text(arguments, "Fn::ImportValue"))
        raise template_error(f"Unsupported function {name}")

    def _find_in_map(self, arguments: Any) -> Any:
        if not isinstance(arguments, list) or len(arguments) not in (3, 4):
            raise template_error("Fn::FindInMap takes [map, top-level key, second-level key]")
        mapping = self._mappings.get(_text(arguments[0], "Fn::FindInMap"))
        if not isinstance(mapping, dict):
            raise template_error(
                f"Mapping named '{arguments[0]}' is not present in the 'Mappings' section of template."
            )
        try:
            return mapping[_text(arguments[1], "Fn::FindInMap")][_text(arguments[2], "Fn::FindInMap")]
        except (KeyError, TypeError):
            if len(arguments) == 4 and isinstance(arguments[3], dict) and "DefaultValue" in arguments[3]:
                return arguments[3]["DefaultValue"]
            raise template_error(
                f"Fn::FindInMap: no value for [{arguments[1]}][{arguments[2]}] in mapping {arguments[0]}"
            ) from None


def _comparable(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value
