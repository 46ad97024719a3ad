"""An entry is counted once toward the account-wide limits: resting in the book, or reserved on
its way; a reservation is taken only at the version its check read."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.domain.reservations import (
    Committed,
    Reservation,
    Reserved,
    RestingEntry,
    Taken,
    committed,
    joined,
)
from app.domain.risk_values import RiskLimits
from app.domain.signals import SignalStatus
from app.ports.execution import AccountState
from app.ports.reservations import LocalReservations
from app.services.execution.context import ExecutionContext
from tests.unit.test_execution import NOW, World, alert

pytestmark = pytest.mark.anyio

D = Decimal
LATER = NOW + timedelta(seconds=60)


def reservation(entry_id: str, notional: str = "500", symbol: str = "ETH/USDT") -> Reservation:
    return Reservation(entry_id, "paper", symbol, D(notional), LATER)


def test_an_entry_counts_once_resting_in_the_book_or_reserved_on_its_way() -> None:
    resting = (
        RestingEntry("a", "paper", "BTC/USDT", D(1000)),  # a limit entry resting
        RestingEntry("b", "paper", "SOL/USDT", None),  # a market entry not answered yet
    )
    reserved = (
        reservation("a", "1000", "BTC/USDT"),  # on record now: the book's figure counts
        reservation("b", "700", "SOL/USDT"),  # no price in the book: its reservation's
        reservation("c", "300", "ADA/USDT"),  # filled and on record: the holdings count it
        reservation("d", "500"),  # on its way
        reservation("own", "900", "XRP/USDT"),  # the entry being checked (a fallback venue)
    )
    assert committed(resting, reserved, on_record={"a", "b", "c"}, own="own") == (
        Committed("paper", "BTC/USDT", D(1000)),
        Committed("paper", "SOL/USDT", D(700)),
        Committed("paper", "ETH/USDT", D(500), on_its_way=True),
    )


def test_a_reservation_is_taken_only_at_the_version_its_check_read() -> None:
    reservations = LocalReservations()
    read = reservations.read("main", NOW)
    assert reservations.reserve("main", read.version, reservation("a"), NOW) is None
    newer = reservations.reserve("main", read.version, reservation("b"), NOW)  # read before a
    assert newer == Reserved(1, (reservation("a"),))
    assert reservations.reserve("main", newer.version, reservation("b"), NOW) is None
    reservations.release("main", "a")
    assert [e.id for e in reservations.read("main", NOW).entries] == ["b"]
    assert reservations.read("main", LATER).entries == ()  # expired: a dead worker's lapses


def test_a_process_knows_which_versions_its_own_reservations_made() -> None:
    taken = Taken(kept=3)
    taken.add("main", 4, reservation("a"))
    taken.add("main", 5, reservation("b"))
    assert taken.since("main", 3, 5) == (reservation("a"), reservation("b"))
    assert taken.since("main", 4, 5) == (reservation("b"),)
    assert taken.since("main", 2, 5) is None  # version 3 was another's
    assert taken.since("main", 5, 5) is None  # nothing moved: nothing to add
    assert taken.since("other", 3, 4) is None  # per account
    for version in (6, 7):
        taken.add("main", version, reservation(f"v{version}"))
    assert taken.since("main", 3, 7) is None  # version 4 forgotten: the last 3 are kept
    assert taken.since("main", 4, 7) == (reservation("b"), reservation("v6"), reservation("v7"))
    taken.seen("main", 7)
    assert taken.since("main", 6, 7) == (reservation("v7"),)
    taken.seen("main", 2)  # below its own: the store began again, version 7 is another's now
    assert taken.since("main", 6, 7) is None


def test_reservations_added_to_a_reading_count_once_the_latest_of_an_entry() -> None:
    read = Reserved(3, (reservation("a"), reservation("c")))
    fallback = reservation("c", "200")  # c's fallback venue, reserved again
    assert joined(read, 5, [reservation("b"), fallback]) == Reserved(
        5, (reservation("a"), reservation("b"), fallback)
    )


def _counting_reads(world: World, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The symbols of the account reads the world's store answers."""
    reads: list[str] = []
    answer = world.store.account_state

    def account_state(account: str, symbol: str, *args: Any) -> AccountState:
        reads.append(symbol)
        return answer(account, symbol, *args)

    monkeypatch.setattr(world.store, "account_state", account_state)
    return reads


async def test_a_batchs_entries_on_two_symbols_read_the_account_once_each_and_share_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both read the account before either is reserved; the second's reservation is refused
    for the first's alone, which it adds to its reading instead of reading the book again."""
    world = World(limits=RiskLimits(max_open_positions=1), a="99990x1|100000x1")
    reads = _counting_reads(world, monkeypatch)
    both_read, read = asyncio.Event(), ExecutionContext.account_and_quotes

    async def account_and_quotes(ctx: ExecutionContext, account: str, symbol: str) -> Any:
        """Each key waits for the other's reading: neither is reserved before both read."""
        answer = await read(ctx, account, symbol)
        if len(reads) == 2:
            both_read.set()
        await both_read.wait()
        return answer

    monkeypatch.setattr(ExecutionContext, "account_and_quotes", account_and_quotes)
    ids = [next(world.ids) for _ in range(2)]
    world.store.add(ids[0], alert(), NOW)
    world.store.add(ids[1], alert(symbol="ETH/USDT", take_profits=(), stop_loss=None), NOW)

    statuses = await world.executor.execute_many(ids)

    assert sorted(reads) == ["BTC/USDT", "ETH/USDT"]
    assert sorted(statuses.values()) == [SignalStatus.DENIED, SignalStatus.EXECUTED]
    [denied] = [i for i in ids if statuses[i] is SignalStatus.DENIED]
    assert "1 positions are open (1 of them entries not filled yet)" in (
        world.store.lineage[denied][-1].detail
    )


class Elsewhere(LocalReservations):
    """Another process takes a reservation of the account right before this one's first."""

    def __init__(self, entry: Reservation) -> None:
        super().__init__()
        self._entry: Reservation | None = entry

    def reserve(
        self, account: str, version: int, entry: Reservation, now: datetime
    ) -> Reserved | None:
        if (other := self._entry) is not None:
            self._entry = None
            self._accounts[account] = Reserved(version + 1, (other,))  # not taken here
        return super().reserve(account, version, entry, now)


async def test_an_entry_refused_for_another_process_reservation_reads_the_book_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = Reservation("other", "a", "ETH/USDT", D(500), LATER)
    world = World(limits=RiskLimits(max_open_positions=1), reservations=Elsewhere(other),
                  a="99990x1|100000x1")  # fmt: skip
    reads = _counting_reads(world, monkeypatch)

    signal_id = await world.send(alert())

    assert reads == ["BTC/USDT", "BTC/USDT"]
    assert world.store.rows[signal_id].status is SignalStatus.DENIED
    assert "1 positions are open (1 of them entries not filled yet)" in (
        world.store.lineage[signal_id][-1].detail
    )
