"""The request budget (app/domain/budget.py) and the venue paced by it (app/services/budgeted.py):
reads wait until they fit, orders and cancels never wait but are counted."""

from __future__ import annotations

from typing import Any, ClassVar, cast

import pytest

from app.domain.budget import RequestBudget
from app.ports.exchange import Capabilities, Exchange
from app.services.budgeted import BudgetedVenue

pytestmark = pytest.mark.anyio


def test_a_budget_holds_a_tenth_of_a_minute_and_refills_at_its_rate() -> None:
    budget = RequestBudget(per_minute=600)  # 10 a second, 60 at most at once
    for _ in range(60):
        assert budget.wait_seconds(0.0) == 0
        budget.charge(0.0)
    assert budget.wait_seconds(0.0) == pytest.approx(0.1)
    assert budget.wait_seconds(0.1) == 0
    assert budget.used == 60


class Venue:
    name = "v"
    capabilities = Capabilities()
    request_counts: ClassVar[dict[str, int]] = {"fetch_balance": 3}

    async def balances(self) -> dict[str, Any]:
        return {}

    async def cancel_order(self, symbol: str, order_id: str) -> Any:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_reads_wait_for_the_budget_and_cancels_do_not() -> None:
    clock = Clock()
    venue = BudgetedVenue(cast(Exchange, Venue()), RequestBudget(per_minute=60),
                          clock=lambda: clock.now, sleep=clock.sleep)  # fmt: skip
    venue.budget.tokens = 0  # spent

    await venue.cancel_order("BTC/USDT", "1")  # counted, never waited for
    assert clock.slept == []

    await venue.balances()  # waits until the balance is back to one, at one a second
    assert sum(clock.slept) == pytest.approx(2.0)
    assert venue.budget_used == (2, 60)
    assert venue.request_counts == {"fetch_balance": 3}  # the venue's own, for /metrics
