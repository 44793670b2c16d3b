"""How every benchmark hands its results over: the JSON on stdout (and to --output), then, unless
--json-only, the human-readable table."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def emit(
    results: dict[str, Any], table: Callable[[dict[str, Any]], str], output: Path | None, json_only: bool
) -> None:
    document = json.dumps(results, indent=2, default=str)
    if output is not None:
        output.write_text(document + "\n")
    print(document)
    if not json_only:
        print()
        print(table(results))
