"""What every tab of a function's page shares: the function as GetFunction describes it (so a
caller who may not read it gets the API's refusal, not the page) and the tab bar."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lamina.console.visit import Visit
from lamina.errors import AwsError
from lamina.transport.messages import LeanResponse

__all__ = ["TABS", "FunctionHome", "describe", "home_of", "tab_page"]

# (path segment, label) in the order the tab bar shows them
TABS = (
    ("code", "Code"),
    ("test", "Test"),
    ("monitor", "Monitor"),
    ("configuration", "Configuration"),
    ("triggers", "Triggers and destinations"),
    ("versions", "Versions and aliases"),
    ("replay", "Replay"),
)


@dataclass(frozen=True, slots=True)
class FunctionHome:
    """Where a function's console documents (saved events, recordings) belong: its own account
    and region, whatever account the visitor signed in to (a function of another account, named
    by its ARN, keeps its own)."""

    account: str
    region: str
    name: str
    qualified: bool  # the name given named a version or alias, not the function itself


def home_of(configuration: dict[str, Any]) -> FunctionHome:
    """From GetFunction(Configuration)'s FunctionArn: arn:aws:lambda:REGION:ACCOUNT:function:NAME[:Q]."""
    parts = str(configuration["FunctionArn"]).split(":")
    return FunctionHome(parts[4], parts[3], parts[6], len(parts) > 7)


async def event_invoke_config(visit: Visit, name: str, *, refusal_as_none: bool = True) -> dict[str, Any]:
    """The function's asynchronous invocation configuration, empty when it has none. A refusal
    (the identity may not read it) is empty too, unless `refusal_as_none` is False: then it is raised
    for the page to say what is not shown."""
    try:
        return await visit.call("lambda", "GetFunctionEventInvokeConfig", {"FunctionName": name})
    except AwsError as error:
        if error.code == "ResourceNotFoundException" or refusal_as_none:
            return {}
        raise


async def describe(visit: Visit, name: str) -> dict[str, Any]:
    """GetFunction's answer: Configuration, Code, Tags, Concurrency."""
    return await visit.call("lambda", "GetFunction", {"FunctionName": name})


async def tab_page(
    visit: Visit,
    name: str,
    tab: str,
    status: int = 200,
    described: dict[str, Any] | None = None,
    template: str | None = None,
    **values: Any,
) -> LeanResponse:
    """The page of `tab` (templates/tab_<tab>.html unless `template` names another)."""
    described = described or await describe(visit, name)
    return visit.page(
        template or f"tab_{tab}.html",
        status,
        function=described["Configuration"],
        described=described,
        tabs=TABS,
        current=tab,
        **values,
    )
