"""`lamina logs`: read a function's log group from the data directory (or from the database servers
share, with --metadata) and print it."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import typer

from lamina.cli.errors import CliError
from lamina.config import Settings
from lamina.store_choice import StoreChoice


def _format(timestamp_ms: int, message: str) -> str:
    """One record; the lines of a multi-line record are separated by \r in the log (as the Lambda
    runtimes write them, so one record stays one event), printed raw a terminal would write each
    line over the one before: they are printed as line breaks."""
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    text = message.replace("\r\n", "\n").replace("\r", "\n").translate(_VISIBLE_CONTROLS)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{timestamp_ms % 1000:03d}Z {text}"


# A function's output is untrusted: escape sequences (a terminal title, cursor moves, colours),
# backspaces and NULs would act on the reader's terminal. Each other control character is shown
# as its escape (\x1b); tabs and line breaks stay.
_VISIBLE_CONTROLS = {
    code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(code) not in "\t\n"
}


def print_logs(
    data_dir: Path,
    function_name: str,
    *,
    follow: bool,
    interval: float,
    account_id: str | None = None,
    region: str | None = None,
    metadata_url: str | None = None,
) -> None:
    """`account_id`: a function of an account created with `lamina admin create-account`;
    `region`: of another region than the data directory's first."""
    settings = Settings(data_dir=data_dir)
    logs_dir = settings.region_paths(account_id or settings.account_id, region or settings.home_region)[2]
    if account_id and not (data_dir / "accounts" / account_id).is_dir():
        raise CliError(
            f"no account {account_id} in {data_dir}", "create it with `lamina admin create-account`"
        )
    account, home = account_id or settings.account_id, region or settings.home_region
    shared = metadata_url or settings.recorded_metadata_url()
    store = StoreChoice(replace(settings, metadata_url=shared), serving=False).logs(
        account, home, logs_dir, lambda: None
    )
    group = f"/aws/lambda/{function_name}"
    if group not in store.list_groups():
        if not follow:
            raise CliError(
                f"no log group {group}: the function {function_name} does not exist or has not run yet",
                "check the name (and --account-id); with --follow, lamina logs waits for it",
            )
        print(f"lamina: waiting for {group} (the function has not run yet)", file=sys.stderr)
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
