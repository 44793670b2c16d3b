"""`lamina cost`: what the metered usage costs, and `lamina cost estimate`, the pricing calculator.

Tables are drawn with rich, imported when one is printed (`--json` and `-h` do without it).
"""

from __future__ import annotations

import asyncio
import datetime
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from lamina.config import Settings
from lamina.domain.pricing import AWS_PRICES, Prices, affordable_invocations, cost, gb_seconds
from lamina.store.sqlite.billing import Usage

cost_app = typer.Typer(
    help="What the functions cost, as AWS Lambda would bill them.",
    invoke_without_command=True,
    rich_markup_mode=None,
)

# Defaults are AWS's prices, written in the help as AWS writes them (not as 1.66667e-05).
PerMillion = Annotated[
    float,
    typer.Option("--price-per-million-requests", help="USD [default: AWS's 0.20].", show_default=False),
]
PerGbSecond = Annotated[
    float,
    typer.Option("--price-per-gb-second", help="USD [default: AWS's 0.0000166667].", show_default=False),
]
FreeRequests = Annotated[
    int,
    typer.Option(
        "--free-requests", help="Free requests a month [default: AWS's 1,000,000].", show_default=False
    ),
]
FreeGbSeconds = Annotated[
    float,
    typer.Option(
        "--free-gb-seconds", help="Free GB-seconds a month [default: AWS's 400,000].", show_default=False
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _money(value: float) -> str:
    return f"${value:,.4f}" if value < 100 else f"${value:,.2f}"


def _costs(requests: int, used: float, prices: Prices) -> dict[str, float]:
    return {
        "cost": round(cost(requests, used, prices, free_tier=False).total, 10),
        "cost_with_free_tier": round(cost(requests, used, prices, free_tier=True).total, 10),
        "aws_lambda_cost": round(cost(requests, used, AWS_PRICES, free_tier=False).total, 10),
        "aws_lambda_cost_with_free_tier": round(cost(requests, used, AWS_PRICES, free_tier=True).total, 10),
    }


def _shared_usage(url: str, scope: str, month: str, function: str | None) -> list[Usage]:
    from lamina.store.postgres.billing import PostgresBillingStore

    async def read() -> dict[tuple[str, str], tuple[int, int]]:
        store = PostgresBillingStore(url, scope)
        await store.open()
        try:
            return await store.usage()
        finally:
            await store.close()

    return [
        Usage(used_in, name, requests, mb_ms)
        for (used_in, name), (requests, mb_ms) in sorted(asyncio.run(read()).items())
        if used_in == month and function in (None, name)
    ]


@cost_app.callback()
def report(
    context: typer.Context,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="The server's data directory.", envvar="LAMINA_DATA_DIR")
    ] = Path(".lamina"),
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM; default: this month.")] = None,
    function: Annotated[str | None, typer.Option("--function", help="One function only.")] = None,
    account_id: Annotated[str | None, typer.Option("--account-id", help="Another account's usage.")] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Usage in this region; default: the data's first region.")
    ] = None,
    per_million: PerMillion = AWS_PRICES.per_million_requests,
    per_gb_second: PerGbSecond = AWS_PRICES.per_gb_second,
    free_requests: FreeRequests = AWS_PRICES.free_requests,
    free_gb_seconds: FreeGbSeconds = AWS_PRICES.free_gb_seconds,
    as_json: AsJson = False,
) -> None:
    """Requests, GB-seconds and cost per function for a month, with and without the free tier, next
    to what AWS Lambda would charge for the same usage."""
    if context.invoked_subcommand is not None:
        return
    from lamina.cli.data_dir import existing_data_dir
    from lamina.store.sqlite.billing import read_usage

    month = month or datetime.datetime.now(datetime.UTC).strftime("%Y-%m")
    try:
        datetime.datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise typer.BadParameter(f"--month must be YYYY-MM, got {month!r}") from None
    settings = Settings(data_dir=existing_data_dir(data_dir))
    prices = Prices(per_million, per_gb_second, free_requests, free_gb_seconds)
    account, home = account_id or settings.account_id, region or settings.home_region
    shared = settings.recorded_metadata_url()
    if shared is None:
        usage = read_usage(settings.billing_path(account, home), month, function)
    else:  # a server on a shared database: its billing is there
        usage = _shared_usage(shared, f"{account}/{home}", month, function)
    rows: list[dict[str, Any]] = []
    for item in usage:
        used = gb_seconds(item.mb_ms, 1)
        rows.append(
            {
                "function": item.function,
                "requests": item.requests,
                "gb_seconds": round(used, 10),
                **_costs(item.requests, used, prices),
            }
        )
    total_requests = sum(row["requests"] for row in rows)
    total_used = sum(gb_seconds(item.mb_ms, 1) for item in usage)
    document: dict[str, Any] = {
        "month": month,
        "functions": rows,
        "total": {
            "requests": total_requests,
            "gb_seconds": round(total_used, 10),
            **_costs(total_requests, total_used, prices),
        },
        "prices": {
            "per_million_requests": per_million,
            "per_gb_second": per_gb_second,
            "free_requests": free_requests,
            "free_gb_seconds": free_gb_seconds,
        },
    }
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    from lamina.cli.tables import print_table

    total = document["total"]
    # "your prices" is what the --price-* and --free-* options set (AWS's by default).
    print_table(
        f"Lambda usage in {month}",
        [
            ("function", "left"),
            ("requests", "right"),
            ("GB-seconds", "right"),
            ("cost (your prices)", "right"),
            ("cost (AWS prices)", "right"),
        ],
        [
            [
                item["function"],
                f"{item['requests']:,}",
                f"{item['gb_seconds']:,.3f}",
                _money(item["cost"]),
                _money(item["aws_lambda_cost"]),
            ]
            for item in [*rows, {"function": "total", **total}]
        ],
    )
    typer.echo(
        f"with the monthly free tier: {_money(total['cost_with_free_tier'])} at your prices, "
        f"{_money(total['aws_lambda_cost_with_free_tier'])} at AWS prices"
    )


@cost_app.command()
def estimate(
    memory: Annotated[int, typer.Option("--memory", help="MB of memory.", min=128, max=10240)],
    duration: Annotated[float, typer.Option("--duration", help="Average duration in ms.", min=0)],
    invocations: Annotated[
        int | None, typer.Option("--invocations", help="Invocations a month.", min=0)
    ] = None,
    budget: Annotated[
        float | None, typer.Option("--budget", help="USD a month: how many invocations it buys.", min=0)
    ] = None,
    per_million: PerMillion = AWS_PRICES.per_million_requests,
    per_gb_second: PerGbSecond = AWS_PRICES.per_gb_second,
    free_requests: FreeRequests = AWS_PRICES.free_requests,
    free_gb_seconds: FreeGbSeconds = AWS_PRICES.free_gb_seconds,
    as_json: AsJson = False,
) -> None:
    """The monthly cost of `--invocations` of this size, or how many `--budget` dollars pay for."""
    if (invocations is None) == (budget is None):
        raise typer.BadParameter("give exactly one of --invocations and --budget")
    prices = Prices(per_million, per_gb_second, free_requests, free_gb_seconds)
    billed = max(1, -(-duration // 1))  # 1 ms steps
    document: dict[str, Any] = {"memory_mb": memory, "duration_ms": duration, "billed_duration_ms": billed}
    if invocations is not None:
        used = invocations * gb_seconds(billed, memory)
        without = cost(invocations, used, prices, free_tier=False)
        with_free = cost(invocations, used, prices, free_tier=True)
        document.update(
            invocations=invocations,
            gb_seconds=round(used, 3),
            request_cost=round(without.requests, 10),
            compute_cost=round(without.compute, 10),
            cost=round(without.total, 10),
            cost_with_free_tier=round(with_free.total, 10),
        )
    else:
        assert budget is not None
        document.update(
            budget=budget,
            invocations=affordable_invocations(budget, memory, duration, prices, free_tier=False),
            invocations_with_free_tier=affordable_invocations(
                budget, memory, duration, prices, free_tier=True
            ),
        )
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(f"{memory} MB × {duration:g} ms (billed {billed:g} ms)")
    if invocations is not None:
        typer.echo(f"{invocations:,} invocations a month: {document['gb_seconds']:,.1f} GB-seconds")
        typer.echo(
            f"  requests {_money(document['request_cost'])} + compute {_money(document['compute_cost'])} = {_money(document['cost'])}"
        )
        typer.echo(f"  with the free tier: {_money(document['cost_with_free_tier'])}")
    else:
        typer.echo(f"${budget:g} a month pays for {document['invocations']:,} invocations")
        typer.echo(f"  ({document['invocations_with_free_tier']:,} with the free tier)")
