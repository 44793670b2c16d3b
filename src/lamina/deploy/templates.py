"""Templates as CloudFormation reads them: JSON, or YAML with the short-form tags (`!Ref`,
`!GetAtt`, `!Sub`…, through cfn-flip's loader), checked for the sections and shapes a stack
needs before anything is created ("Template anatomy")."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cfn_flip import load_json, load_yaml

from lamina.deploy.errors import template_error
from lamina.domain.yaml_documents import has_aliases, nesting_problem

__all__ = ["MAX_TEMPLATE_BYTES", "Template", "parse_template"]

MAX_TEMPLATE_BYTES = 1_000_000  # TemplateURL's limit; TemplateBody's is 51,200
MAX_BODY_BYTES = 51_200
MAX_RESOURCES = 500
_SECTIONS = frozenset(
    {
        "AWSTemplateFormatVersion",
        "Description",
        "Metadata",
        "Parameters",
        "Rules",
        "Mappings",
        "Conditions",
        "Transform",
        "Resources",
        "Outputs",
        "Globals",
    }
)
_RESOURCE_KEYS = frozenset(
    {
        "Type",
        "Properties",
        "DependsOn",
        "Condition",
        "DeletionPolicy",
        "UpdateReplacePolicy",
        "Metadata",
        "CreationPolicy",
        "UpdatePolicy",
    }
)


_PARAMETER_NUMBERS = ("MinLength", "MaxLength", "MinValue", "MaxValue")


def _check_parameters(parameters: dict[str, Any]) -> None:
    for name, spec in parameters.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("Type"), str):
            raise template_error(f"[/Parameters/{name}] Every Parameters object must contain a Type member.")
        for member in _PARAMETER_NUMBERS:
            if member in spec:
                try:
                    float(spec[member])
                except (TypeError, ValueError):
                    raise template_error(f"[/Parameters/{name}/{member}] must be a number") from None
        if "AllowedValues" in spec and not isinstance(spec["AllowedValues"], list):
            raise template_error(f"[/Parameters/{name}/AllowedValues] must be a list")
        if "Default" in spec and isinstance(spec["Default"], dict):
            raise template_error(f"[/Parameters/{name}/Default] must be a string, a number or a list")


def _check_depends_on(name: str, depends_on: Any) -> None:
    if isinstance(depends_on, str):
        return
    if not isinstance(depends_on, list) or not all(isinstance(item, str) for item in depends_on):
        raise template_error(f"[/Resources/{name}/DependsOn] must be a resource name or a list of them")


def _plain(value: Any) -> Any:
    """cfn-flip's ordered dicts as plain dicts and lists (JSON-able: stored as they are)."""
    return json.loads(json.dumps(value))


@dataclass(frozen=True)
class Template:
    body: str  # as given: GetTemplate returns it
    document: dict[str, Any]
    description: str | None = None
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    transforms: list[str] = field(default_factory=list)


def _dict_section(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name) or {}
    if not isinstance(value, dict):
        raise template_error(f"{name} section must be an object")
    return value


def parse_template(body: str, *, limit: int = MAX_TEMPLATE_BYTES) -> Template:
    """The template in `body`; ValidationError "Template format error: …" when it is not one."""
    if len(body.encode("utf-8", "replace")) > limit:
        raise template_error(f"the template is larger than {limit} bytes")
    problem = nesting_problem(body)
    if problem is not None:
        raise template_error(problem)
    if has_aliases(body):
        raise template_error("YAML aliases are not allowed in CloudFormation templates")
    try:
        # JSON when it looks like JSON, so the error said is the one of the format meant.
        loaded = load_json(body) if body.lstrip().startswith("{") else load_yaml(body)
        document = _plain(loaded)
    except Exception as error:  # the JSON and YAML parsers' errors, and constructor errors of tags
        raise template_error(
            f"JSON not well-formed or YAML not well-formed ({str(error).splitlines()[0][:200]})"
        ) from None
    if not isinstance(document, dict):
        raise template_error("the template is not an object")
    unknown = sorted(set(document) - _SECTIONS)
    if unknown:
        raise template_error(f"Invalid template property or properties {unknown}")
    resources = _dict_section(document, "Resources")
    if not resources:
        raise template_error("At least one Resources member must be defined.")
    if len(resources) > MAX_RESOURCES:
        raise template_error(
            f"Number of resources, {len(resources)}, is greater than maximum allowed, {MAX_RESOURCES}"
        )
    for name, resource in resources.items():
        if not name.isalnum():
            raise template_error(f"Resource name {name} is non alphanumeric.")
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise template_error(f"[/Resources/{name}] Every Resources object must contain a Type member.")
        extra = sorted(set(resource) - _RESOURCE_KEYS)
        if extra:
            raise template_error(f"Unrecognized resource attribute(s) {extra} in [{name}]")
        if not isinstance(resource.get("Properties", {}), dict):
            raise template_error(f"[/Resources/{name}/Properties] must be an object")
        if "DependsOn" in resource:
            _check_depends_on(name, resource["DependsOn"])
        if "Condition" in resource and not isinstance(resource["Condition"], str):
            raise template_error(f"[/Resources/{name}/Condition] must be a condition's name")
    outputs = _dict_section(document, "Outputs")
    for name, output in outputs.items():
        if not isinstance(output, dict) or "Value" not in output:
            raise template_error(f"[/Outputs/{name}] 'null' values are not allowed in templates")
    transform = document.get("Transform")
    transforms = [transform] if isinstance(transform, str) else transform or []
    if not isinstance(transforms, list) or not all(isinstance(item, str) for item in transforms):
        raise template_error("Transform must be a transform's name or a list of them")
    description = document.get("Description")
    if description is not None and not isinstance(description, str):
        raise template_error("Description must be a string")
    parameters = _dict_section(document, "Parameters")
    _check_parameters(parameters)
    return Template(
        body=body,
        document=document,
        description=description if isinstance(description, str) else None,
        parameters=parameters,
        mappings=_dict_section(document, "Mappings"),
        conditions=_dict_section(document, "Conditions"),
        resources=resources,
        outputs=outputs,
        transforms=[str(item) for item in transforms],
    )
