"""The functions list (with search and each function's invocations of the last day), creating a
function from scratch or from a blueprint, and deleting one."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from typing import Any

from lamina.blueprints.catalog import blueprint, blueprints, function_code, runtime_for
from lamina.console import charts
from lamina.console.inline_errors import FORM, place_error
from lamina.console.metrics_reads import invocations_by_function
from lamina.console.packages import new_package
from lamina.console.pages.function_page import home_of
from lamina.console.saved_events import SavedEvents
from lamina.console.starters import RUNTIMES, starter_for
from lamina.console.visit import Visit, redirect
from lamina.errors import AwsError
from lamina.transport.messages import LeanResponse

__all__ = ["create", "delete", "index", "new"]

MAX_LISTED = 10_000
NEW_ROLE = "new"  # the role choice "Create a new role with basic Lambda permissions"
_BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
_CREATE_FIELDS = {
    "name": ("FunctionName", "functionname", "function"),
    "runtime": ("Runtime",),
    "role": ("Role", "iam", "assumed"),
    "blueprint": ("blueprint",),
}


async def all_functions(visit: Visit) -> list[dict[str, Any]]:
    """Every function of the signed-in account (ListFunctions, page after page)."""
    return await visit.all_pages("lambda", "ListFunctions", {}, "Functions", MAX_LISTED)


async def index(visit: Visit) -> LeanResponse:
    functions: list[dict[str, Any]] = []
    error = None
    try:
        functions = await all_functions(visit)
    except AwsError as refused:
        error = refused
    search = visit.query.get("q", "").strip()
    if search:
        functions = [item for item in functions if search.lower() in item["FunctionName"].lower()]
    functions.sort(key=lambda item: item["FunctionName"])
    try:  # a user who may list functions but not read metrics sees the list without sparklines
        counts = await invocations_by_function(visit, [item["FunctionName"] for item in functions[:200]])
    except AwsError:
        counts = {}
    sparklines = {name: charts.sparkline(values) for name, values in counts.items()}
    return visit.page(
        "functions.html",
        functions=functions,
        search=search,
        error=error,
        sparklines=sparklines,
        deleted=bool(visit.query.get("deleted")),
    )


async def _roles(visit: Visit) -> list[str]:
    """Roles Lambda may assume (their trust names lambda.amazonaws.com); none when IAM refuses."""
    try:
        listed = await visit.call("iam", "ListRoles", {"MaxItems": 1000})
    except AwsError:
        return []
    return sorted(
        role["Arn"]
        for role in listed.get("Roles") or []
        if "lambda.amazonaws.com" in json.dumps(role.get("AssumeRolePolicyDocument") or "")
    )


async def new(visit: Visit, errors: dict[str, str] | None = None, status: int = 200) -> LeanResponse:
    return visit.page(
        "function_new.html",
        status,
        runtimes=RUNTIMES,
        default_runtime=runtime_for("python"),
        blueprints=blueprints(),
        roles=await _roles(visit),
        form=visit.form,
        errors=errors or {},
        FORM=FORM,
    )


async def _new_role(visit: Visit, function_name: str) -> str:
    """A role with basic Lambda permissions, named as AWS's console names it."""
    name = f"{function_name[:40]}-role-{secrets.token_hex(4)}"
    role = await visit.call(
        "iam",
        "CreateRole",
        {"RoleName": name, "Path": "/service-role/", "AssumeRolePolicyDocument": _TRUST},
    )
    await visit.call("iam", "AttachRolePolicy", {"RoleName": name, "PolicyArn": _BASIC_EXECUTION})
    return str(role["Role"]["Arn"])


async def _drop_role(visit: Visit, arn: str) -> None:
    name = arn.rsplit("/", 1)[-1]
    try:
        await visit.call("iam", "DetachRolePolicy", {"RoleName": name, "PolicyArn": _BASIC_EXECUTION})
        await visit.call("iam", "DeleteRole", {"RoleName": name})
    except AwsError:  # the visitor may create roles but not delete them: the role stays, named
        pass


async def create(visit: Visit) -> LeanResponse:
    form = visit.form
    name = form.get("name", "").strip()
    errors: dict[str, str] = {}
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        errors["name"] = "A function name is 1 to 64 letters, digits, hyphens or underscores."
    if form.get("source") == "blueprint":
        chosen = blueprint(form.get("blueprint", ""))
        if chosen is None:
            errors["blueprint"] = "Choose a blueprint."
    if errors:
        return await new(visit, errors, 400)
    if form.get("source") == "blueprint" and chosen is not None:
        code = await asyncio.to_thread(function_code, chosen)
        runtime, handler = runtime_for(chosen.language), code.handler
        package = await asyncio.to_thread(new_package, code.files, code.executable)
    else:
        runtime = form.get("runtime", "")
        starter = starter_for(runtime)
        handler = starter.handler
        package = await asyncio.to_thread(new_package, starter.files, starter.executable)
    made_role: str | None = None
    try:
        role = form.get("role", NEW_ROLE)
        if role == NEW_ROLE:
            role = made_role = await _new_role(visit, name)
        await visit.call(
            "lambda",
            "CreateFunction",
            {
                "FunctionName": name,
                "Runtime": runtime,
                "Role": role,
                "Handler": handler,
                "Code": {"ZipFile": package},
            },
        )
    except AwsError as refused:
        if made_role is not None:  # a role made for a function that was not made goes again
            await _drop_role(visit, made_role)
        return await new(visit, place_error(refused, _CREATE_FIELDS), 400)
    return redirect(f"/functions/{visit.quoted(name)}/code?created=1")


async def delete(visit: Visit, name: str) -> LeanResponse:
    if visit.form.get("confirm") != name:
        return redirect(f"/functions/{visit.quoted(name)}/configuration?delete=confirm")
    home = home_of(await visit.call("lambda", "GetFunctionConfiguration", {"FunctionName": name}))
    await visit.call("lambda", "DeleteFunction", {"FunctionName": name})
    if visit.parts.documents is not None and not home.qualified:  # the function's test events go with it
        await SavedEvents(visit.parts.documents).forget_function(home.account, home.region, home.name)
    return redirect("/functions?deleted=1")
