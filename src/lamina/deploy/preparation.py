"""A template made ready for a stack operation, before anything is created: read, transformed
(the SAM transform expands into the processed template every later step works from), its
parameters resolved, its graph, capabilities and conditions checked. A fault found here is the
call's error; nothing is stored."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lamina.deploy.errors import insufficient_capabilities, template_error, validation_error
from lamina.deploy.graph import dependencies
from lamina.deploy.intrinsics import Evaluator
from lamina.deploy.parameters import resolve_parameters
from lamina.deploy.sam import SAM_TRANSFORM, expand_sam
from lamina.deploy.templates import MAX_TEMPLATE_BYTES, Template, parse_template
from lamina.errors import AwsError

__all__ = ["Prepared", "TransformFailed", "check_conditions", "prepare", "required_capability"]

# A processed template may be larger than what was sent: SAM writes out what it abbreviates.
MAX_PROCESSED_BYTES = 4 * MAX_TEMPLATE_BYTES
AUTO_EXPAND = "CAPABILITY_AUTO_EXPAND"


@dataclass(frozen=True)
class Prepared:
    template: Template  # processed: what the stack's resources come from
    values: dict[str, Any]  # parameter values, typed
    raw: dict[str, str]  # parameter values as given (what DescribeStacks shows)
    original: str  # the body as sent (GetTemplate's Original stage)

    @property
    def processed(self) -> str:
        return self.template.body


class TransformFailed(AwsError):
    """A transform refused the template: a change set records it as its FAILED reason."""


_NAMED_IAM = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::Policy": "PolicyName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
}


def check_conditions(template: Template, values: dict[str, Any]) -> None:
    """Conditions evaluated once before anything is made: one that names a resource, or that does
    not come out true or false, is a template error now rather than a stack failure later."""

    def no_resources(logical: str, *_: str) -> Any:
        raise template_error(
            f"Unresolved dependencies [{logical}]. Cannot reference resources in the Conditions block of the template"
        )

    pseudo: dict[str, Any] = {
        name: ""
        for name in (
            "AWS::AccountId",
            "AWS::Region",
            "AWS::StackName",
            "AWS::StackId",
            "AWS::Partition",
            "AWS::URLSuffix",
        )
    }
    pseudo["AWS::NotificationARNs"] = []
    evaluator = Evaluator(
        parameters=values,
        pseudo=pseudo,
        mappings=template.mappings,
        conditions=template.conditions,
        physical_id=no_resources,
        attribute=no_resources,
        import_value=lambda name: "",
        resource_names=frozenset(template.resources),
    )
    referenced = {
        str(resource["Condition"]) for resource in template.resources.values() if "Condition" in resource
    }
    referenced |= {str(output["Condition"]) for output in template.outputs.values() if "Condition" in output}
    for name in sorted(set(template.conditions) | referenced):
        try:
            evaluator.condition(name)
        except AwsError:
            raise
        except Exception as error:
            raise template_error(f"Condition {name}: {type(error).__name__}: {error}") from None


def required_capability(template: Template) -> str | None:
    """The capability a template's IAM resources need: CAPABILITY_NAMED_IAM for named ones."""
    needed = None
    for resource in template.resources.values():
        kind = resource.get("Type", "")
        if kind.startswith("AWS::IAM::"):
            needed = needed or "CAPABILITY_IAM"
            name_property = _NAMED_IAM.get(kind)
            if name_property and name_property in (resource.get("Properties") or {}):
                return "CAPABILITY_NAMED_IAM"
    return needed


def prepare(
    body: str,
    params: dict[str, Any],
    region: str,
    previous: dict[str, str] | None = None,
    *,
    direct: bool = True,
) -> Prepared:
    """The template `body` ready for a stack of `params` in `region`. `direct` is CreateStack and
    UpdateStack, which need CAPABILITY_AUTO_EXPAND to run a transform; a change set shows the
    expansion for review instead."""
    template = parse_template(body)
    given = params.get("Capabilities") or []
    resolved: tuple[dict[str, Any], dict[str, str]] | None = None
    if template.transforms:
        unknown = [name for name in template.transforms if name != SAM_TRANSFORM]
        if unknown:
            raise validation_error(f"No transform named {unknown[0]} found.")
        if direct and AUTO_EXPAND not in given:
            raise insufficient_capabilities(AUTO_EXPAND)
        resolved = resolve_parameters(template.parameters, params.get("Parameters") or [], previous)
        values = resolved[0]
        try:
            expanded = expand_sam(template.document, values, region)
        except AwsError as error:
            raise TransformFailed(error.code, error.message, error.status) from None
        template = parse_template(json.dumps(expanded), limit=MAX_PROCESSED_BYTES)
    dependencies(template.resources, list(template.resources))  # cycles are refused at once
    capability = required_capability(template)
    if (
        capability is not None
        and capability not in given
        and not (capability == "CAPABILITY_IAM" and "CAPABILITY_NAMED_IAM" in given)
    ):
        raise insufficient_capabilities(capability)
    values, raw = resolved or resolve_parameters(
        template.parameters, params.get("Parameters") or [], previous
    )
    check_conditions(template, values)
    return Prepared(template, values, raw, body)
