"""An entry is counted once toward the account-wide limits: resting in the book, or reserved on
its way; a reservation is taken only at the version its check read."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from app.domain.reservations import Committed, Reservation, Reserved, RestingEntry, committed
from app.ports.reservations import LocalReservations
from tests.unit.test_execution import NOW

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
