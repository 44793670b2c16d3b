"""`lamina server` options parsed before the server starts."""

from __future__ import annotations

import pytest
import typer

from lamina.cli.main import _parse_memory_budget


def test_memory_budget_in_megabytes_or_as_a_share_of_ram() -> None:
    assert _parse_memory_budget(None) == {}
    assert _parse_memory_budget("4096") == {"memory_budget_mb": 4096}
    assert _parse_memory_budget("25%") == {"memory_budget_share": 0.25}
    assert _parse_memory_budget("100%") == {"memory_budget_share": 1.0}


@pytest.mark.parametrize("value", ["0", "-5", "0%", "150%", "lots", "12.5", "%"])
def test_invalid_memory_budgets_are_refused(value: str) -> None:
    with pytest.raises(typer.BadParameter, match="expected megabytes"):
        _parse_memory_budget(value)
