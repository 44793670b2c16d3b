"""Request ids are random version-4 UUIDs in canonical form."""

from __future__ import annotations

import uuid

from lamina.domain.ids import new_request_id


def test_request_ids_are_version_4_uuids_in_canonical_form() -> None:
    ids = [new_request_id() for _ in range(2000)]
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    assert len(set(ids)) == len(ids)
    assert {text[19] for text in ids} == set("89ab")
