"""What every resource provider implements, and what it is given."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from lamina.errors import AwsError

__all__ = ["Created", "ProviderContext", "ResourceProvider", "as_json_text", "unless_gone"]

# (service as botocore names it, operation, params) → the parsed answer; raises AwsError.
Call = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
_SUFFIX_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True, slots=True)
class Created:
    physical_id: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ProviderContext:
    call: Call
    stack_name: str
    stack_id: str
    account: str
    region: str

    def physical_name(self, logical_id: str, max_length: int = 64, lower: bool = False) -> str:
        """A name as CloudFormation makes them: `<stack>-<logical id>-<13 random characters>`,
        shortened to fit."""
        suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(13))
        room = max_length - len(suffix) - 2
        stack_part = self.stack_name[: max(1, room // 2)]
        logical_part = logical_id[: max(1, room - len(stack_part))]
        name = f"{stack_part}-{logical_part}-{suffix}"
        return name.lower() if lower else name


class ResourceProvider(Protocol):
    type_name: str
    # Properties whose change replaces the resource (a new one is created, the old one deleted);
    # any other change is made in place.
    replaced_by: frozenset[str]

    async def create(
        self, context: ProviderContext, logical_id: str, properties: dict[str, Any]
    ) -> Created: ...

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created: ...

    async def delete(
        self, context: ProviderContext, physical_id: str, properties: dict[str, Any]
    ) -> None: ...


def as_json_text(document: Any) -> str:
    """A policy document given in a template (an object, or already text) as IAM takes it."""
    return document if isinstance(document, str) else json.dumps(document)


async def unless_gone(work: Awaitable[Any], *gone: str) -> None:
    """Await a delete that may find its resource gone already (deleted by hand, or by a stack
    operation a crash cut short): the error codes in `gone` mean done, any other is raised."""
    try:
        await work
    except AwsError as error:
        if error.code not in gone:
            raise
