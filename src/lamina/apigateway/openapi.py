"""OpenAPI definitions as API Gateway imports them (ImportRestApi, PutRestApi, ImportApi,
ReimportApi, and CloudFormation's `Body`): Swagger 2.0 or OpenAPI 3.x, in JSON or YAML, with
API Gateway's `x-amazon-apigateway-*` extensions. What is shared by the REST and HTTP importers
lives here: reading the document, walking its operations, and its security schemes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import yaml

from lamina.apigateway.errors import bad_request
from lamina.domain.yaml_documents import has_aliases, nesting_problem
from lamina.errors import AwsError

__all__ = [
    "MAX_DEFINITION_BYTES",
    "Operation",
    "import_error",
    "info_members",
    "load_definition",
    "one_of",
    "operations",
    "read_definition",
    "run_importer",
    "security_of",
    "security_schemes",
    "typed",
]

MAX_DEFINITION_BYTES = 6 * 1024 * 1024  # API Gateway's import limit for a definition's body
ANY_METHOD = "x-amazon-apigateway-any-method"
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", ANY_METHOD)

# libyaml's loader where PyYAML was built with it: a few megabytes of YAML in a fraction of the time.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Operation = tuple[str, str, dict[str, Any]]  # (path, HTTP method upper-cased or ANY, operation)


def import_error(problem: str) -> AwsError:
    return bad_request(f"Errors found during import:\n\t{problem}")


def load_definition(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The definition as a document; BadRequestException when it is not one API Gateway takes."""
    if isinstance(body, dict):
        document: Any = body
    else:
        raw = body if isinstance(body, bytes) else body.encode("utf-8")
        if len(raw) > MAX_DEFINITION_BYTES:
            raise import_error(f"The definition is larger than {MAX_DEFINITION_BYTES} bytes")
        text = raw.decode("utf-8", "replace")
        problem = nesting_problem(text)
        if problem is not None:
            raise import_error(f"Invalid OpenAPI input: {problem}")
        if has_aliases(text):
            raise import_error("YAML aliases are not allowed in API definitions")
        try:
            document = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, Loader=_LOADER)
        except (ValueError, yaml.YAMLError, RecursionError) as error:
            raise import_error(f"Invalid OpenAPI input: {str(error).splitlines()[0][:200]}") from None
    if not isinstance(document, dict):
        raise import_error("Invalid OpenAPI input: the definition is not an object")
    version = str(document.get("swagger") or document.get("openapi") or "")
    if not (version == "2.0" or version.startswith("3.")):
        raise import_error("Invalid OpenAPI input: 'swagger': '2.0' or 'openapi': '3.x' is required")
    if not isinstance(document.get("paths", {}), dict):
        raise import_error("Invalid OpenAPI input: 'paths' must be an object")
    info = document.get("info", {})
    if not isinstance(info, dict):
        raise import_error("Invalid OpenAPI input: 'info' must be an object")
    return document


def info_members(document: dict[str, Any], targets: tuple[str, str, str]) -> dict[str, Any]:
    """The definition's info.title, description and version under the API's names for them."""
    info = document.get("info") or {}
    members: dict[str, Any] = {}
    for source, target in zip(("title", "description", "version"), targets, strict=True):
        value = info.get(source)
        if value is not None:
            members[target] = (
                str(value) if isinstance(value, str | int | float) else typed(value, "str", f"info.{source}")
            )
    return members


async def run_importer(
    run: Callable[[], Awaitable[None]], warnings: list[str], fail_on_warnings: bool
) -> None:
    """Run an importer over its draft: a refusal of the control plane, or a value of a shape the
    importer did not expect, is said as an import error; warnings fail it when asked to."""
    try:
        await run()
    except AwsError as error:
        if error.message.startswith("Errors found during import"):
            raise
        raise import_error(error.message) from None
    except (TypeError, ValueError, AttributeError) as error:
        raise import_error(f"Invalid OpenAPI input: {str(error)[:200]}") from None
    if fail_on_warnings and warnings:
        raise import_error("\n\t".join(warnings))


async def read_definition(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """load_definition on a thread: a large YAML document takes the parser a while, and the
    server's loop has other requests to answer meanwhile."""
    return await asyncio.to_thread(load_definition, body)


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            raise import_error(f"Invalid path item at '{path}': must be an object")
        for key, operation in item.items():
            if key not in _METHODS:
                continue  # parameters, summary, servers, other extensions
            if not isinstance(operation, dict):
                raise import_error(f"Invalid operation {key} at '{path}': must be an object")
            yield str(path), "ANY" if key == ANY_METHOD else key.upper(), operation


def security_schemes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Swagger's securityDefinitions, or OpenAPI 3's components.securitySchemes."""
    schemes = document.get("securityDefinitions")
    if schemes is None:
        components = document.get("components") or {}
        schemes = components.get("securitySchemes") if isinstance(components, dict) else None
    if schemes is None:
        return {}
    if not isinstance(schemes, dict) or not all(isinstance(scheme, dict) for scheme in schemes.values()):
        raise import_error("Invalid OpenAPI input: security schemes must be objects")
    return schemes


def security_of(document: dict[str, Any], operation: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(scheme name, scopes) an operation requires: its own `security`, else the document's."""
    requirements = operation.get("security", document.get("security")) or []
    if not isinstance(requirements, list):
        raise import_error("Invalid OpenAPI input: 'security' must be a list")
    found: list[tuple[str, list[str]]] = []
    for requirement in requirements:
        if not isinstance(requirement, dict):
            raise import_error("Invalid OpenAPI input: a security requirement must be an object")
        for name, scopes in requirement.items():
            found.append((str(name), [str(scope) for scope in scopes or []]))
    return found


# The types of the members an import passes on. An SDK's call is typed by the protocol before it
# reaches the service; a definition's values are not, so the importers check them here ("abc"
# where a map belongs was stored, then broke every read of the API).
_CHECKS = {
    "str": lambda value: isinstance(value, str),
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "bool": lambda value: isinstance(value, bool),
    "str_map": lambda value: (
        isinstance(value, dict)
        and all(isinstance(key, str) and isinstance(item, str) for key, item in value.items())
    ),
    "str_list": lambda value: isinstance(value, list) and all(isinstance(item, str) for item in value),
}
_KIND_NAMES = {
    "str": "a string",
    "int": "an integer",
    "bool": "true or false",
    "str_map": "a map of strings to strings",
    "str_list": "a list of strings",
}


def typed(value: Any, kind: str, where: str) -> Any:
    """`value` when it is of `kind` (str, int, bool, str_map, str_list); an import error naming
    `where` otherwise."""
    if not _CHECKS[kind](value):
        raise import_error(f"Invalid OpenAPI input: {where} must be {_KIND_NAMES[kind]}")
    return value


def one_of(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise import_error(f"Invalid OpenAPI input: {where} must be one of {', '.join(allowed)}")
    return str(value)
