"""The Versions and aliases tab: the published versions, Publish, the aliases with their routing
weights, creating, changing and deleting an alias."""

from __future__ import annotations

import re
from typing import Any

from lamina.console.inline_errors import FORM, place_error
from lamina.console.pages.function_page import describe, tab_page
from lamina.console.visit import Visit, redirect
from lamina.errors import AwsError
from lamina.transport.messages import LeanResponse

__all__ = ["alias", "publish", "show"]

_ALIAS_FIELDS = {
    "alias": ("Name", "alias"),
    "version": ("FunctionVersion", "version"),
    "weight": ("AdditionalVersionWeights", "weight", "weights", "routingconfig"),
}


_ALIAS_DONE = {"create": "Created", "update": "Updated", "delete": "Deleted"}


def _notice(query: dict[str, str]) -> str | None:
    """What the redirect after a change says happened (built here from checked values, so a link
    cannot make the page say anything else)."""
    version = query.get("published", "")
    if version.isascii() and version.isdigit():
        return f"Published version {version}."
    done, alias = _ALIAS_DONE.get(query.get("alias_action", "")), query.get("alias", "")
    if done and re.fullmatch(r"[A-Za-z0-9_-]{1,128}", alias):
        return f"{done} the alias {alias}."
    return None


async def show(
    visit: Visit,
    name: str,
    status: int = 200,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> LeanResponse:
    described = await describe(visit, name)
    versions = await visit.all_pages("lambda", "ListVersionsByFunction", {"FunctionName": name}, "Versions")
    aliases = await visit.all_pages("lambda", "ListAliases", {"FunctionName": name}, "Aliases")
    for item in aliases:
        weights = (item.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        item["Weights"] = [(version, round(weight * 100, 2)) for version, weight in weights.items()]
        item["PrimaryWeight"] = round(100 - sum(weight for _, weight in item["Weights"]), 2)
    return await tab_page(
        visit,
        name,
        "versions",
        status,
        described,
        versions=versions,
        published=[item["Version"] for item in versions if item["Version"] != "$LATEST"],
        aliases=aliases,
        errors=errors or {},
        FORM=FORM,
        form=visit.form if errors else {},
        notice=notice or _notice(visit.query),
    )


async def publish(visit: Visit, name: str) -> LeanResponse:
    try:
        published = await visit.call(
            "lambda",
            "PublishVersion",
            {"FunctionName": name, "Description": visit.form.get("description", "")},
        )
    except AwsError as refused:
        return await show(visit, name, 400, errors={f"publish.{FORM}": f"{refused.code}: {refused.message}"})
    return redirect(
        f"/functions/{visit.quoted(name)}/versions?published={visit.quoted(published['Version'])}"
    )


def _routing(form: dict[str, str]) -> dict[str, Any] | None:
    """The weighted second version, or None; ValueError for a weight that is not a number."""
    second = form.get("second_version", "").strip()
    if not second:
        return None
    weight = float(form.get("weight", "").strip() or "nan")
    if not 0 <= weight <= 100:
        raise ValueError("The weight is a percentage from 0 to 100.")
    return {"AdditionalVersionWeights": {second: round(weight / 100, 4)}}


async def alias(visit: Visit, name: str) -> LeanResponse:
    form = visit.form
    alias_name = form.get("alias", "").strip()
    action = form.get("action", "save")
    try:
        if action == "delete":
            await visit.call("lambda", "DeleteAlias", {"FunctionName": name, "Name": alias_name})
        else:
            try:
                routing = _routing(form)
            except ValueError:
                return await show(
                    visit, name, 400, errors={"alias.weight": "The weight is a percentage from 0 to 100."}
                )
            params: dict[str, Any] = {
                "FunctionName": name,
                "Name": alias_name,
                "FunctionVersion": form.get("version", ""),
                "RoutingConfig": routing or {"AdditionalVersionWeights": {}},
            }
            if action == "update":
                await visit.call("lambda", "UpdateAlias", params)
            else:
                if routing is None:
                    params.pop("RoutingConfig")
                await visit.call("lambda", "CreateAlias", params)
    except AwsError as refused:
        field, message = next(iter(place_error(refused, _ALIAS_FIELDS).items()))
        if refused.code == "ResourceNotFoundException" and action != "delete":
            field = "version"  # the function exists (its page was drawn): the version does not
        return await show(
            visit,
            name,
            refused.status if 400 <= refused.status < 500 else 400,
            errors={f"alias.{field}": message},
        )
    done = action if action in _ALIAS_DONE else "create"
    return redirect(
        f"/functions/{visit.quoted(name)}/versions?alias_action={done}&alias={visit.quoted(alias_name)}"
    )
