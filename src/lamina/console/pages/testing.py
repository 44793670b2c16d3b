"""The Test tab: an event from a template or a saved event, Test (an Invoke with LogType=Tail as
the signed-in identity) and what came back: the result, the summary from the REPORT line, the log
output; saving and deleting named test events."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from lamina.console.event_templates import TEMPLATES, template_text
from lamina.console.pages.function_page import FunctionHome, describe, home_of, tab_page
from lamina.console.saved_events import PRIVATE, SHAREABLE, SavedEvent, SavedEvents, valid_event_name
from lamina.console.visit import Visit
from lamina.errors import AwsError
from lamina.transport.messages import LeanResponse

__all__ = ["REPORT", "run_test", "show", "submit"]

MAX_EVENT_BYTES = 256 * 1024  # a synchronous invocation takes 6 MB; a form needs less
REPORT = re.compile(
    r"REPORT RequestId: (?P<request_id>\S+)\s+Duration: (?P<duration>[\d.]+) ms\s+"
    r"Billed Duration: (?P<billed>\d+) ms\s+Memory Size: (?P<memory>\d+) MB\s+"
    r"Max Memory Used: (?P<used>\d+) MB(?:\s+Init Duration: (?P<init>[\d.]+) ms)?"
)


def _saved_events(visit: Visit) -> SavedEvents | None:
    store = visit.parts.documents
    return SavedEvents(store) if store is not None else None


async def _saved(visit: Visit, home: FunctionHome) -> list[SavedEvent]:
    saved = _saved_events(visit)
    if saved is None:
        return []
    return await saved.list(home.account, home.region, home.name, visit.principal.arn)


async def show(visit: Visit, name: str, status: int = 200, **values: Any) -> LeanResponse:
    described = await describe(visit, name)
    template = visit.form.get("template") or visit.query.get("template")
    values.setdefault("event", template_text(template or "Hello World"))
    values.setdefault("event_name", visit.form.get("event_name"))
    values.setdefault("scope", visit.form.get("scope", PRIVATE))
    return await tab_page(
        visit,
        name,
        "test",
        status,
        described,
        templates=list(TEMPLATES),
        chosen=template or "Hello World",
        saved=await _saved(visit, home_of(described["Configuration"])),
        chosen_saved=visit.form.get("saved"),
        **values,
    )


def _problem_with(event: str) -> str | None:
    if len(event.encode()) > MAX_EVENT_BYTES:
        return f"The event is larger than {MAX_EVENT_BYTES // 1024} KB."
    try:
        json.loads(event or "null")
    except ValueError as error:
        return f"The event is not JSON: {error}"
    except RecursionError:
        return "The event is nested too deeply."
    return None


async def run_test(visit: Visit, name: str, event: str, qualifier: str | None = None) -> dict[str, Any]:
    """Invoke `name` with `event` as the visitor; what the result section shows (or `refused`)."""
    params: dict[str, Any] = {"FunctionName": name, "Payload": event.encode(), "LogType": "Tail"}
    if qualifier:
        params["Qualifier"] = qualifier
    try:
        answer = await visit.call("lambda", "Invoke", params)
    except AwsError as refused:
        return {"refused": refused}
    payload = answer.get("Payload") or b""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    try:
        shown = json.dumps(json.loads(text), indent=2)
    except (ValueError, RecursionError):  # not JSON, or nested past what is worth indenting
        shown = text
    log = base64.b64decode(answer.get("LogResult") or "").decode("utf-8", "replace")
    report = REPORT.search(log)
    return {
        "result": shown,
        "failed": answer.get("FunctionError"),
        "log": log,
        "summary": report.groupdict() if report is not None else None,
    }


async def submit(visit: Visit, name: str) -> LeanResponse:
    event = visit.form.get("event", "")
    action = visit.form.get("action", "test")
    if action == "template":  # "Use template": a new event, nothing invoked
        return await show(visit, name)
    if action in ("open", "forget", "save"):
        return await _saved_event_action(visit, name, action, event)
    problem = _problem_with(event)
    if problem is not None:
        return await show(visit, name, 400, event=event, problem=problem)
    return await show(visit, name, event=event, **await run_test(visit, name, event))


async def _saved_event_action(visit: Visit, name: str, action: str, event: str) -> LeanResponse:
    saved = _saved_events(visit)
    if saved is None:
        return await show(visit, name, 400, event=event, problem="This server keeps no saved test events.")
    home = home_of((await describe(visit, name))["Configuration"])
    where = (home.account, home.region, home.name, visit.principal.arn)
    key = visit.form.get("saved", "")
    if action == "open":
        found = next((item for item in await saved.list(*where) if item.key == key), None)
        if found is None:
            return await show(visit, name, 404, event=event, problem="Choose a saved event to open.")
        return await show(visit, name, event=found.event, event_name=found.name, scope=found.scope)
    if action == "forget":
        await saved.forget(*where, key)
        return await show(visit, name, event=event, notice="The saved event was deleted.")
    event_name = visit.form.get("event_name", "").strip()
    scope = SHAREABLE if visit.form.get("scope") == SHAREABLE else PRIVATE
    problem = _problem_with(event)
    if not valid_event_name(event_name):
        problem = "An event name is 1 to 25 letters, digits, hyphens or underscores."
    if problem is None:
        try:
            await saved.save(*where, scope, event_name, event)
        except ValueError as full:
            problem = str(full)
    if problem is not None:
        return await show(visit, name, 400, event=event, problem=problem)
    return await show(visit, name, event=event, notice=f"Saved the {scope} event {event_name}.")
