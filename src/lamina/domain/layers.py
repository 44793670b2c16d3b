"""Layers: versioned ZIP archives a function adds under /opt.

Rules from the Lambda developer guide ("Managing Lambda dependencies with layers") and API reference
(PublishLayerVersion, AddLayerVersionPermission): a version is immutable and numbered from 1, its
number is never given again; a function uses at most 5 layers, extracted in order into /opt (a later
layer overwrites an earlier one's files), and function plus layers unzip to at most 250 MB. A deleted
version stays usable by the functions that already have it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lamina.domain.code import MAX_UNZIPPED_BYTES, CodeDigest
from lamina.domain.functions import FunctionLayer, format_last_modified
from lamina.errors import invalid_parameter

MAX_LAYERS_PER_FUNCTION = 5
_LAYER_VERSION_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:(?P<name>[a-zA-Z0-9-_]+):(?P<version>[0-9]+)$"
)
_LAYER_NAME_OR_ARN = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:layer:)?(?P<name>[a-zA-Z0-9-_]+)$"
)


def layer_arn(region: str, account_id: str, name: str, version: int | None = None) -> str:
    base = f"arn:aws:lambda:{region}:{account_id}:layer:{name}"
    return f"{base}:{version}" if version is not None else base


def layer_name(value: str) -> str:
    """LayerName parameters accept a name or a layer ARN (without version)."""
    match = _LAYER_NAME_OR_ARN.match(value)
    if match is None:
        raise invalid_parameter(f"Invalid layer name or ARN: {value}")
    return match.group("name")


def parse_layer_version_arn(arn: str) -> tuple[str, str, str, int]:
    """(region, account, name, version) of a layer version ARN."""
    match = _LAYER_VERSION_ARN.match(arn)
    if match is None:
        raise invalid_parameter(f"Layer version {arn} does not exist.")
    return match.group("region"), match.group("account"), match.group("name"), int(match.group("version"))


@dataclass(frozen=True, slots=True)
class LayerVersion:
    name: str
    version: int
    content: CodeDigest
    unzipped_size: int
    description: str = ""
    # None: not given (AWS then leaves the member out); () given empty (AWS echoes []).
    compatible_runtimes: tuple[str, ...] | None = None
    compatible_architectures: tuple[str, ...] | None = None
    license_info: str | None = None
    created_date: str = ""

    def to_api(self, region: str, account_id: str, location: str) -> dict[str, Any]:
        """The GetLayerVersion / PublishLayerVersion output shape."""
        return {
            "Content": {
                "Location": location,
                "CodeSha256": self.content.sha256_base64,
                "CodeSize": self.content.size,
            },
            "LayerArn": layer_arn(region, account_id, self.name),
            **self.list_item(region, account_id),
        }

    def list_item(self, region: str, account_id: str) -> dict[str, Any]:
        """LayerVersionsListItem: the same without Content and LayerArn."""
        output: dict[str, Any] = {
            "LayerVersionArn": layer_arn(region, account_id, self.name, self.version),
            "Version": self.version,
            "Description": self.description,
            "CreatedDate": self.created_date,
        }
        if self.compatible_runtimes is not None:
            output["CompatibleRuntimes"] = list(self.compatible_runtimes)
        if self.compatible_architectures is not None:
            output["CompatibleArchitectures"] = list(self.compatible_architectures)
        if self.license_info is not None:
            output["LicenseInfo"] = self.license_info
        return output

    def matches(self, runtime: str | None, architecture: str | None) -> bool:
        """ListLayers / ListLayerVersions filters."""
        if runtime is not None and runtime not in (self.compatible_runtimes or ()):
            return False
        return architecture is None or architecture in (self.compatible_architectures or ())

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "content": self.content.to_record(),
            "unzipped_size": self.unzipped_size,
            "description": self.description,
            "compatible_runtimes": _listed(self.compatible_runtimes),
            "compatible_architectures": _listed(self.compatible_architectures),
            "license_info": self.license_info,
            "created_date": self.created_date,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> LayerVersion:
        values = dict(record)
        values["content"] = CodeDigest(**values["content"])
        for key in ("compatible_runtimes", "compatible_architectures"):
            values[key] = None if values.get(key) is None else tuple(values[key])
        return cls(**values)


def _listed(values: tuple[str, ...] | None) -> list[str] | None:
    return None if values is None else list(values)


def check_function_layers(layers: list[FunctionLayer], code_unzipped_size: int) -> None:
    if len(layers) > MAX_LAYERS_PER_FUNCTION:
        raise invalid_parameter(f"Cannot reference more than {MAX_LAYERS_PER_FUNCTION} layers.")
    arns = [layer.arn for layer in layers]
    names = [arn.rsplit(":", 1)[0] for arn in arns]
    if len(set(names)) != len(names):
        raise invalid_parameter(
            "Two different versions of the same layer are not allowed to be referenced in the same function."
        )
    total = code_unzipped_size + sum(layer.unzipped_size for layer in layers)
    if total > MAX_UNZIPPED_BYTES:
        raise invalid_parameter(
            f"Function code combined with layers exceeds the maximum allowed size of {MAX_UNZIPPED_BYTES} "
            f"bytes. The actual size is {total} bytes."
        )


def layer_permission_statement(params: dict[str, Any], resource_arn: str) -> dict[str, Any]:
    """AddLayerVersionPermission's statement: an account (or every account, "*"), optionally
    limited to an organization."""
    principal = params["Principal"]
    if principal == "*":
        who: str | dict[str, str] = "*"
    elif principal.startswith("arn:"):  # the model's pattern admits only an account's root ARN here
        who = {"AWS": principal}
    else:
        who = {"AWS": f"arn:aws:iam::{principal}:root"}
    statement: dict[str, Any] = {
        "Sid": params["StatementId"],
        "Effect": "Allow",
        "Principal": who,
        "Action": params["Action"],
        "Resource": resource_arn,
    }
    if params.get("OrganizationId"):
        statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": params["OrganizationId"]}}
    return statement


def created_now() -> str:
    return format_last_modified(datetime.now(UTC))
