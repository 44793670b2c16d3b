"""`lamina logs`: read a function's log group from the data directory and print it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import typer

from lamina.config import Settings
from lamina.store.logs import FileLogStore


def _format(timestamp_ms: int, message: str) -> str:
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{timestamp_ms % 1000:03d}Z {message}"


def print_logs(
    data_dir: Path, function_name: str, *, follow: bool, interval: float, account_id: str | None = None
) -> None:
    """`account_id`: a function of an account created with `lamina admin create-account`."""
    settings = Settings(data_dir=data_dir)
    store = FileLogStore(settings.account_paths(account_id)[2] if account_id else settings.logs_dir)
    group = f"/aws/lambda/{function_name}"
    seen: dict[str, int] = {}
    try:
        while True:
            batch = []
            for stream in store.list_streams(group):
                events = store.read(group, stream, start_index=seen.get(stream, 0))
                seen[stream] = seen.get(stream, 0) + len(events)
                batch.extend(events)
            for event in sorted(batch, key=lambda item: item.timestamp_ms):
                typer.echo(_format(event.timestamp_ms, event.message))
            if not follow:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
