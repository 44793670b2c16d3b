"""Tables the CLI prints (`lamina cost`, `lamina tune`), drawn by rich.

rich is imported here, when a table is printed, not when the CLI starts: `lamina env` and `-h`
stay quick.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Justify = Literal["left", "right"]


def print_table(
    title: str | None, columns: Sequence[tuple[str, Justify]], rows: Sequence[Sequence[str]]
) -> None:
    """Columns as (header, justification); every row has one cell per column. Piped output is
    as wide as its content (rich would otherwise cut it at 80 columns)."""
    import sys

    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for header, justify in columns:
        table.add_column(header, justify=justify, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    Console(width=None if sys.stdout.isatty() else 10_000).print(table)
