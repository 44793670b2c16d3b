"""TagResource, UntagResource, ListTags and CreateFunction's Tags, for functions.

Rules from the tagging guide: at most 50 tags per resource, keys starting with `aws:` are
reserved, tags belong to the function (not to a version or alias).
"""

from __future__ import annotations

from lamina.domain.arns import parse_function_ref
from lamina.errors import invalid_parameter
from lamina.functions.manager import FunctionManager
from lamina.store.ports import MetadataStore

MAX_TAGS = 50
_TOO_MANY = "Number of tags exceeds resource tag limit."


class TagService:
    def __init__(self, manager: FunctionManager, store: MetadataStore) -> None:
        self._manager = manager
        self._store = store

    def function_of(self, resource_arn: str) -> str:
        """The function a taggable resource ARN names; it must exist and carry no qualifier."""
        placement = self._manager.placement
        if not resource_arn.startswith("arn:"):
            raise invalid_parameter(f"Invalid resource ARN: {resource_arn}")
        ref = parse_function_ref(resource_arn, region=placement.region, account_id=placement.account_id)
        if ref.qualifier is not None:
            raise invalid_parameter(
                "Tags on function aliases and versions are not supported. Please specify a function ARN."
            )
        self._manager.get(ref.name)
        return ref.name

    async def tags_of(self, name: str) -> dict[str, str]:
        return await self._store.get_tags(name)

    async def tag(self, name: str, tags: dict[str, str]) -> None:
        if not tags:
            raise invalid_parameter("An error occurred and the request cannot be processed.")
        check_tags(tags)
        async with self._manager.lock(name):
            self._manager.get(name)
            merged = {**await self._store.get_tags(name), **tags}
            if len(merged) > MAX_TAGS:
                raise invalid_parameter(_TOO_MANY)
            await self._store.put_tags(name, merged)

    async def untag(self, name: str, keys: list[str]) -> None:
        async with self._manager.lock(name):
            self._manager.get(name)
            current = await self._store.get_tags(name)
            await self._store.put_tags(
                name, {key: value for key, value in current.items() if key not in keys}
            )


def check_tags(tags: dict[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise invalid_parameter(_TOO_MANY)
    reserved = sorted(key for key in tags if key.lower().startswith("aws:"))
    if reserved:
        raise invalid_parameter(f"Tag keys starting with 'aws:' are reserved: {', '.join(reserved)}")
