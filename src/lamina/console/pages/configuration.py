"""The Configuration tab: general settings, environment variables, the execution role, reserved
concurrency, asynchronous invocation, the function URL and tags. Each section is its own form;
what the API refuses is shown next to the field it names (inline_errors)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lamina.console.inline_errors import FORM, place_error
from lamina.console.pages.function_page import describe, event_invoke_config, tab_page
from lamina.console.visit import Visit, redirect
from lamina.errors import AwsError
from lamina.transport.messages import LeanResponse

__all__ = ["SECTIONS", "show", "update"]

MAX_LINES_TEXT = 64 * 1024


class FormProblem(Exception):
    """A field the console can check before asking the API: (field, message)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _whole_number(form: dict[str, str], field: str, label: str) -> int | None:
    text = form.get(field, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 9:  # "²".isdigit() too
        raise FormProblem(field, f"{label} must be a whole number.")
    return int(text)


def _pairs(text: str, field: str, label: str) -> dict[str, str]:
    """KEY=VALUE lines (blank lines skipped)."""
    if len(text) > MAX_LINES_TEXT:
        raise FormProblem(field, f"{label} are longer than {MAX_LINES_TEXT // 1024} KB.")
    pairs: dict[str, str] = {}
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        key, separator, value = line.partition("=")
        if not separator or not key.strip():
            raise FormProblem(field, f"Line {number} is not KEY=VALUE.")
        pairs[key.strip()] = value
    return pairs


def _lines(pairs: dict[str, str] | None) -> str:
    return "\n".join(f"{key}={value}" for key, value in (pairs or {}).items())


async def _url_config(visit: Visit, name: str) -> dict[str, Any]:
    try:
        return await visit.call("lambda", "GetFunctionUrlConfig", {"FunctionName": name})
    except AwsError:
        return {}


async def show(
    visit: Visit,
    name: str,
    status: int = 200,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> LeanResponse:
    described = await describe(visit, name)
    configuration = described["Configuration"]
    async_config = await event_invoke_config(visit, name)
    destinations = async_config.get("DestinationConfig") or {}
    failed = visit.form if errors else {}  # a refused form keeps what was typed
    return await tab_page(
        visit,
        name,
        "configuration",
        status,
        described,
        errors=errors or {},
        FORM=FORM,
        notice=notice or ("The configuration was saved." if visit.query.get("saved") else None),
        confirm_delete=visit.query.get("delete") == "confirm",
        values={
            "description": configuration.get("Description") or "",
            "memory": configuration.get("MemorySize"),
            "timeout": configuration.get("Timeout"),
            "ephemeral": (configuration.get("EphemeralStorage") or {}).get("Size", 512),
            "environment": _lines((configuration.get("Environment") or {}).get("Variables")),
            "role": configuration.get("Role"),
            "reserved": (described.get("Concurrency") or {}).get("ReservedConcurrentExecutions", ""),
            "max_age": async_config.get("MaximumEventAgeInSeconds", ""),
            "retries": async_config.get("MaximumRetryAttempts", ""),
            "on_failure": (destinations.get("OnFailure") or {}).get("Destination", ""),
            "on_success": (destinations.get("OnSuccess") or {}).get("Destination", ""),
            "tags": _lines(described.get("Tags")),
            **failed,
        },
        url=await _url_config(visit, name),
        limits=visit.parts.function_limits(configuration["FunctionArn"].split(":")[4]),
    )


async def _general(visit: Visit, name: str, form: dict[str, str]) -> None:
    params: dict[str, Any] = {"FunctionName": name, "Description": form.get("description", "")}
    for field, member, label in (
        ("memory", "MemorySize", "Memory"),
        ("timeout", "Timeout", "Timeout"),
    ):
        value = _whole_number(form, field, label)
        if value is not None:
            params[member] = value
    ephemeral = _whole_number(form, "ephemeral", "Ephemeral storage")
    if ephemeral is not None:
        params["EphemeralStorage"] = {"Size": ephemeral}
    await visit.call("lambda", "UpdateFunctionConfiguration", params)


async def _environment(visit: Visit, name: str, form: dict[str, str]) -> None:
    variables = _pairs(form.get("environment", ""), "environment", "Environment variables")
    await visit.call(
        "lambda",
        "UpdateFunctionConfiguration",
        {"FunctionName": name, "Environment": {"Variables": variables}},
    )


async def _role(visit: Visit, name: str, form: dict[str, str]) -> None:
    await visit.call(
        "lambda", "UpdateFunctionConfiguration", {"FunctionName": name, "Role": form.get("role", "")}
    )


async def _concurrency(visit: Visit, name: str, form: dict[str, str]) -> None:
    reserved = _whole_number(form, "reserved", "Reserved concurrency")
    if reserved is None:
        await visit.call("lambda", "DeleteFunctionConcurrency", {"FunctionName": name})
    else:
        await visit.call(
            "lambda",
            "PutFunctionConcurrency",
            {"FunctionName": name, "ReservedConcurrentExecutions": reserved},
        )


async def _asynchronous(visit: Visit, name: str, form: dict[str, str]) -> None:
    params: dict[str, Any] = {"FunctionName": name}
    max_age = _whole_number(form, "max_age", "Maximum age of event")
    retries = _whole_number(form, "retries", "Retry attempts")
    if max_age is not None:
        params["MaximumEventAgeInSeconds"] = max_age
    if retries is not None:
        params["MaximumRetryAttempts"] = retries
    destinations = {
        kind: {"Destination": form[field].strip()}
        for kind, field in (("OnFailure", "on_failure"), ("OnSuccess", "on_success"))
        if form.get(field, "").strip()
    }
    params["DestinationConfig"] = destinations
    await visit.call("lambda", "PutFunctionEventInvokeConfig", params)


async def _url(visit: Visit, name: str, form: dict[str, str]) -> None:
    auth = form.get("auth_type", "AWS_IAM")
    if form.get("action") == "delete":
        await visit.call("lambda", "DeleteFunctionUrlConfig", {"FunctionName": name})
    elif await _url_config(visit, name):
        await visit.call("lambda", "UpdateFunctionUrlConfig", {"FunctionName": name, "AuthType": auth})
    else:
        await visit.call("lambda", "CreateFunctionUrlConfig", {"FunctionName": name, "AuthType": auth})


async def _tags(visit: Visit, name: str, form: dict[str, str]) -> None:
    wanted = _pairs(form.get("tags", ""), "tags", "Tags")
    described = await describe(visit, name)
    arn = described["Configuration"]["FunctionArn"]
    current = described.get("Tags") or {}
    gone = [key for key in current if key not in wanted]
    if gone:
        await visit.call("lambda", "UntagResource", {"Resource": arn, "TagKeys": gone})
    if wanted:
        await visit.call("lambda", "TagResource", {"Resource": arn, "Tags": wanted})


Section = Callable[[Visit, str, dict[str, str]], Awaitable[None]]
# section → (what saves it, {field: the API's words for it})
SECTIONS: dict[str, tuple[Section, dict[str, tuple[str, ...]]]] = {
    "general": (
        _general,
        {
            "memory": ("MemorySize", "memory"),
            "timeout": ("Timeout",),
            "ephemeral": ("EphemeralStorage", "ephemeral", "size"),
            "description": ("Description",),
        },
    ),
    "environment": (_environment, {"environment": ("Environment", "Variables", "variable", "key", "keys")}),
    "role": (_role, {"role": ("Role", "assumed")}),
    "concurrency": (
        _concurrency,
        {"reserved": ("ReservedConcurrentExecutions", "concurrency", "concurrentexecutions")},
    ),
    "asynchronous": (
        _asynchronous,
        {
            "max_age": ("MaximumEventAgeInSeconds",),
            "retries": ("MaximumRetryAttempts",),
            "on_failure": ("OnFailure", "destination"),
            "on_success": ("OnSuccess",),
        },
    ),
    "url": (_url, {"auth_type": ("AuthType",)}),
    "tags": (_tags, {"tags": ("Tags", "tag", "key", "value")}),
}


async def update(visit: Visit, name: str, section: str) -> LeanResponse:
    found = SECTIONS.get(section)
    if found is None:
        return await show(visit, name, 404, errors={FORM: "No such configuration section."})
    save, fields = found
    try:
        await save(visit, name, visit.form)
    except FormProblem as problem:
        return await show(visit, name, 400, errors={f"{section}.{problem.field}": str(problem)})
    except AwsError as refused:
        placed = place_error(refused, fields)
        field, message = next(iter(placed.items()))
        return await show(
            visit,
            name,
            refused.status if 400 <= refused.status < 500 else 400,
            errors={f"{section}.{field}" if field != FORM else f"{section}.{FORM}": message},
        )
    return redirect(f"/functions/{visit.quoted(name)}/configuration?saved={section}")
