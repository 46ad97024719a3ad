"""The venues that take an account's new entries (`VenueAccess`): VENUES' for an account that
names no connection, its own connections while they are enabled and known."""

from __future__ import annotations

import pytest

from app.domain.accounts import AccountRules, VenueAccess, no_venue_left
from app.domain.risk_values import RiskLimits
from app.domain.sizing import SizingPolicy

ACCESS = VenueAccess(
    shared=frozenset({"paper"}),
    known=frozenset({"paper", "binance_main", "bybit_main"}),
    closed={"bybit_main": "is disabled (`signalgate connections enable bybit_main`)"},
)


def rules(*venues: str) -> AccountRules:
    return AccountRules("alpha", RiskLimits(), SizingPolicy(), venues=frozenset(venues) or None)


@pytest.mark.parametrize(
    ("named", "venues", "why"),
    [
        ((), {"paper"}, None),  # no connection named: the venues of VENUES, never a stored one
        (("binance_main",), {"binance_main"}, None),
        (("binance_main", "bybit_main"), {"binance_main"}, None),  # one left: it trades there
        (
            ("bybit_main",),
            set(),
            "account alpha has no venue taking entries: connection"
            " bybit_main is disabled (`signalgate connections enable bybit_main`)",
        ),
        (
            ("gone",),
            set(),
            "account alpha has no venue taking entries: no connection named gone"
            " is known to this worker (removed, or added in the last seconds)",
        ),
    ],
)
def test_an_account_trades_on_its_open_connections_only(
    named: tuple[str, ...], venues: set[str], why: str | None
) -> None:
    applied = ACCESS.applied(rules(*named))

    assert applied.venues == frozenset(venues)
    assert no_venue_left(applied) == why


def test_without_access_the_rules_are_as_they_were() -> None:
    assert no_venue_left(rules()) is None
    assert no_venue_left(rules("binance_main")) is None
