"""Saved test events on a real resource store: private ones seen only by who saved them,
shareable ones by everyone, a limit per scope, deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from lamina.console.saved_events import MAX_EVENTS_PER_FUNCTION, SavedEvents, valid_event_name
from lamina.store.sqlite.resources import SqliteResourceStore

ALICE = "arn:aws:iam::000000000000:user/alice"
BOB = "arn:aws:iam::000000000000:user/bob"
WHERE = ("000000000000", "us-east-1", "fn")


def _with_store(tmp_path: Path, scenario: Callable[[SavedEvents], Awaitable[None]]) -> None:
    async def run() -> None:
        store = SqliteResourceStore(tmp_path / "resources.db")
        await store.open()
        try:
            await scenario(SavedEvents(store))
        finally:
            await store.close()

    asyncio.run(run())


def test_private_and_shareable_events(tmp_path: Path) -> None:
    _with_store(tmp_path, _private_and_shareable)


def test_a_scope_keeps_at_most_ten_events(tmp_path: Path) -> None:
    _with_store(tmp_path, _at_most_ten)


async def _private_and_shareable(saved: SavedEvents) -> None:
    await saved.save(*WHERE, ALICE, "private", "mine", '{"a": 1}')
    await saved.save(*WHERE, ALICE, "shareable", "team", '{"b": 2}')
    alice = [(item.name, item.scope, item.event) for item in await saved.list(*WHERE, ALICE)]
    assert alice == [("mine", "private", '{"a": 1}'), ("team", "shareable", '{"b": 2}')]
    assert [item.key for item in await saved.list(*WHERE, BOB)] == ["shareable/team"]
    assert await saved.list("000000000000", "us-east-1", "other", ALICE) == []
    await saved.forget(*WHERE, BOB, "private/mine")  # Bob cannot delete Alice's private event
    assert len(await saved.list(*WHERE, ALICE)) == 2
    await saved.forget(*WHERE, BOB, "shareable/team")
    assert [item.name for item in await saved.list(*WHERE, ALICE)] == ["mine"]
    await saved.forget_function(*WHERE)
    assert await saved.list(*WHERE, ALICE) == []


async def _at_most_ten(saved: SavedEvents) -> None:
    for index in range(MAX_EVENTS_PER_FUNCTION):
        await saved.save(*WHERE, ALICE, "private", f"e{index}", "{}")
    await saved.save(*WHERE, ALICE, "private", "e0", '{"replaced": true}')  # replacing is fine
    with pytest.raises(ValueError, match="at most 10 private test events"):
        await saved.save(*WHERE, ALICE, "private", "one-more", "{}")
    await saved.save(*WHERE, BOB, "private", "bobs", "{}")  # another owner's own ten


def test_event_names() -> None:
    assert valid_event_name("my-event_1") and not valid_event_name("x" * 26)
    assert not valid_event_name("has space") and not valid_event_name("") and not valid_event_name("a/b")
