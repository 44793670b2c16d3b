"""What every resource provider implements, and what it is given."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from lamina.errors import AwsError

__all__ = [
    "Created",
    "FindsOrphans",
    "ProviderContext",
    "ResourceProvider",
    "as_json_text",
    "exists",
    "unless_gone",
]

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
    # The stack operation's token: names made in one operation are a function of it, so after a
    # crash the engine can name what a create cut short may have made (see made_by below).
    operation: str = ""

    def physical_name(self, logical_id: str, max_length: int = 64, lower: bool = False) -> str:
        """A name as CloudFormation makes them: `<stack>-<logical id>-<13 random characters>`,
        shortened to fit; the same one for a resource all through one operation."""
        if self.operation:
            seed = hashlib.sha256(f"{self.stack_id}|{logical_id}|{self.operation}".encode()).digest()
            chooser = random.Random(seed)  # names, not secrets
            suffix = "".join(chooser.choice(_SUFFIX_ALPHABET) for _ in range(13))
        else:
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


class FindsOrphans(Protocol):
    """A provider whose generated names let the engine find what a create cut short by a crash
    made (the call done, its record never stored): `made_by` answers the physical id a create of
    these properties in this operation made, or None when it made nothing or the template names
    the resource itself (a resource of that name need not be the stack's)."""

    async def made_by(
        self, context: ProviderContext, logical_id: str, properties: dict[str, Any]
    ) -> str | None: ...


async def exists(work: Awaitable[Any], *gone: str) -> bool:
    """Whether a read finds its resource: the error codes in `gone` mean no."""
    try:
        await work
    except AwsError as error:
        if error.code in gone:
            return False
        raise
    return True


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
