"""Servers on one database: exchanging their in-flight counts (PostgresInFlight: each sees the sum
of the others' and never its own, a count that fell to zero goes, and a stopped server's counts go
with it), and which of them leads (evaluates alarms)."""

from __future__ import annotations

import asyncio

from lamina.store.postgres.database import PostgresDatabase
from lamina.store.postgres.in_flight import PostgresInFlight
from tests.support.postgres import PostgresServer

RESERVED = "acct/us-east-1/reserved/f"
UNRESERVED = "acct/us-east-1/unreserved"


def test_servers_see_the_sum_of_the_others_counts(postgres: PostgresServer) -> None:
    url = postgres.new_database()

    async def main() -> None:
        servers = [PostgresDatabase(url, server_id=name) for name in ("a", "b", "c")]
        exchanges = []
        for database in servers:
            await database.open()
            exchanges.append(PostgresInFlight(database))
            await exchanges[-1].open()
        a, b, c = exchanges
        assert await a.exchange({RESERVED: 2, UNRESERVED: 1}) == {}
        assert await b.exchange({RESERVED: 3}) == {RESERVED: 2, UNRESERVED: 1}
        assert await c.exchange({}) == {RESERVED: 5, UNRESERVED: 1}
        # A count that fell to zero (or went from what a server counts) is gone for the others.
        assert await a.exchange({RESERVED: 0}) == {RESERVED: 3}
        assert await c.exchange({UNRESERVED: 4}) == {RESERVED: 3}
        assert await a.exchange({}) == {RESERVED: 3, UNRESERVED: 4}
        # A server that stops counts for nothing any more.
        await servers[1].close()
        assert await a.exchange({}) == {UNRESERVED: 4}
        for database in (servers[0], servers[2]):
            await database.close()

    asyncio.run(main())


def test_a_killed_servers_counts_go_when_its_beats_lapse_and_a_restart_starts_from_none(
    postgres: PostgresServer,
) -> None:
    url = postgres.new_database()

    async def main() -> None:
        killed, alive = PostgresDatabase(url, server_id="killed"), PostgresDatabase(url, server_id="alive")
        await killed.open()
        await alive.open()
        before, survivor = PostgresInFlight(killed), PostgresInFlight(alive)
        await before.open()
        await survivor.open()
        await before.exchange({RESERVED: 5})
        assert await survivor.exchange({}) == {RESERVED: 5}
        # Restarted after a kill (same id, beating again): what its last run counted is gone.
        again = PostgresDatabase(url, server_id="killed")
        await again.open()
        await PostgresInFlight(again).open()
        assert await survivor.exchange({}) == {}
        await PostgresInFlight(again).exchange({RESERVED: 1})
        assert await survivor.exchange({}) == {RESERVED: 1}
        # Killed for good: its beats lapse and its counts with them.
        async with alive.transaction() as connection:
            await connection.execute(
                "UPDATE lamina_servers SET alive_until = now() - interval '1 second' WHERE server_id = 'killed'"
            )
        assert await survivor.exchange({}) == {}
        for database in (killed, again, alive):
            await database.close()

    asyncio.run(main())


def test_the_lowest_live_server_leads_and_another_takes_over_when_it_stops(postgres: PostgresServer) -> None:
    url = postgres.new_database()

    async def main() -> None:
        a, b = PostgresDatabase(url, server_id="a"), PostgresDatabase(url, server_id="b")
        await b.open()
        assert await b.leads()
        await a.open()
        assert await a.leads() and not await b.leads()
        await a.close()
        assert await b.leads()
        await b.close()

    asyncio.run(main())
