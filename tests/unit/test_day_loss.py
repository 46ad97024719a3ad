"""MAX_DAILY_LOSS counts what was realized today as it fills (a partial take-profit too), the open
positions at their marks (unless DAILY_LOSS_COUNTS_UNREALIZED=false), and P&L in other quote
currencies converted into ACCOUNT_CURRENCY, or refused with what to set."""

from __future__ import annotations

import asyncio
import decimal
from collections.abc import Awaitable
from decimal import Decimal
from typing import TypeVar

import pytest
from ccxt.base.decimal_to_precision import ROUND, decimal_to_precision

from app.domain.brackets.bracket import BracketState
from app.domain.market import OrderBook
from app.domain.orders import Leg, OrderState
from app.domain.risk_values import RiskLimits
from app.domain.signals import QtyMode, SignalStatus, StopKind, StopLoss, TakeProfit
from app.domain.sizing import SizingPolicy, number_text
from app.ports.exchange import Balance
from app.ports.execution import NoLocks
from app.services.execution.executor import Executor
from tests.paper_desk import Desk, Logged, alert, plain

pytestmark = pytest.mark.anyio
D = Decimal
T = TypeVar("T")
REALIZED_ONLY = {"daily_loss_counts_unrealized": False}


def two_targets(first: str) -> dict[str, object]:
    """Half the position at `first`, half at 120,000; the stop at 95,000."""
    return {"take_profits": (TakeProfit(price=D(first), share=D("0.5")),
                             TakeProfit(price=D(120_000), share=D("0.5")))}  # fmt: skip


async def test_a_partial_take_profit_at_a_loss_counts_before_the_bracket_closes() -> None:
    desk = Desk(RiskLimits(max_daily_loss=D(5), **REALIZED_ONLY))
    opened = await desk.send(alert(**two_targets("101000")))
    # the first target is reached, but the book is thin: most of its half sells far lower
    desk.move("BTC/USDT", "101000x0.001 96000x1", "101010x1")
    await desk.monitor.run_once()
    bracket = desk.store.brackets[opened]
    [target] = [o for o in bracket.orders if o.leg is Leg.TAKE_PROFIT]
    assert (target.filled, target.state) == (D("0.0025"), OrderState.FILLED)
    assert bracket.state is BracketState.OPEN  # half the position is still held

    denied = await desk.send(plain("ETH/USDT"))

    assert desk.store.rows[denied].status is SignalStatus.DENIED
    check = desk.check(denied, "max_daily_loss")
    assert not check["passed"]
    # 0.001 at 101,000 and 0.0015 at 96,000 against 0.0025 at 100,000: -4.99, fees on top
    assert str(check["detail"]).startswith("realized loss today 5.")
    assert "(MAX_DAILY_LOSS)" in str(check["detail"])


async def test_a_partial_take_profit_at_a_profit_counts_before_the_bracket_closes() -> None:
    desk = Desk(RiskLimits(max_daily_loss=D(30), **REALIZED_ONLY))
    opened = await desk.send(alert(**two_targets("110000")))
    stopped = await desk.send(plain("ETH/USDT", stop_loss=StopLoss(StopKind.PRICE, D(2900))))
    # a loss closed today: ETH stopped out at 2,800, 200 under its 3,000 entry, on 1/6 ETH
    desk.move("ETH/USDT", "2800x10", "2801x10")
    # a profit taken today on half the BTC position, which stays open: +25 before fees
    desk.move("BTC/USDT", "110000x1", "110010x1")
    await desk.monitor.run_once()
    assert desk.store.brackets[stopped].state is BracketState.CLOSED
    assert desk.store.brackets[opened].state is BracketState.OPEN

    allowed = await desk.send(plain("SOL/USDT"))

    # counted at the close only, the ETH loss (33.33 and fees) alone was over the 30 limit
    assert desk.store.rows[allowed].status is SignalStatus.EXECUTED, desk.decision(allowed)
    assert desk.check(allowed, "max_daily_loss")["passed"]


async def test_an_open_positions_unrealized_loss_denies_the_next_entry() -> None:
    desk = Desk(RiskLimits(max_daily_loss=D(9)))
    await desk.send(alert())  # 0.005 BTC at 100,000
    desk.move("BTC/USDT", "98000x1", "98010x1")  # above the stop: the position is still open

    denied = await desk.send(plain("ETH/USDT"))

    assert desk.store.rows[denied].status is SignalStatus.DENIED
    detail = str(desk.check(denied, "max_daily_loss")["detail"])
    # (98,005 - 100,000) x 0.005 = -9.975 at the mid; the entry's fee (0.50) is realized
    assert "(realized -0.50, open positions -9.98)" in detail, detail
    assert detail.endswith("is at or over the 9 limit (MAX_DAILY_LOSS)")


class Overlapping(Logged):
    """Notes each venue read as it starts, with the reads then in flight (itself included)."""

    in_flight = 0
    reads: list[tuple[str, int]]  # what was read, reads in flight

    async def _overlapped(self, what: str, read: Awaitable[T]) -> T:
        self.in_flight += 1
        self.reads.append((what, self.in_flight))
        try:
            await asyncio.sleep(0)  # a round trip: the reads started with it overlap
            return await read
        finally:
            self.in_flight -= 1

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        return await self._overlapped(f"{symbol} {depth}", super().order_book(symbol, depth))

    async def balances(self) -> dict[str, Balance]:
        return await self._overlapped("balances", super().balances())


async def test_the_marks_of_the_positions_held_are_read_with_the_signals_quotes() -> None:
    """The mark of each position the account holds is read in the same round trip as the
    signal's book and the balances (a paper venue: in the same request), not after them."""
    desk = Desk(RiskLimits(max_daily_loss=D(9)), venue_kind=Overlapping)
    venue = desk.venue
    assert isinstance(venue, Overlapping)
    venue.reads = []
    await desk.send(alert())  # 0.005 BTC at 100,000
    desk.move("BTC/USDT", "98000x1", "98010x1")
    venue.reads = []

    denied = await desk.send(plain("ETH/USDT"))

    assert {what for what, _ in venue.reads} == {"BTC/USDT 1", "ETH/USDT 20", "balances"}
    assert max(overlapping for _, overlapping in venue.reads) == 3  # all three at once
    # and counted: (98,005 - 100,000) x 0.005 = -9.975 at the mid
    assert "open positions -9.98" in str(desk.check(denied, "max_daily_loss")["detail"])


async def test_a_position_another_worker_opened_since_the_last_reading_is_counted() -> None:
    """The marks read with the quotes are those of the positions this worker last saw; one
    opened since by another worker is in the book this signal reads, and its mark is read then
    (MAX_DAILY_LOSS is never under-counted)."""
    desk = Desk(RiskLimits(max_daily_loss=D(9)))
    await desk.send(plain("SOL/USDT"))  # this worker's last reading: no BTC position
    other = Executor(
        store=desk.store, venues={"a": desk.venue}, modes={"a": "paper"}, clock=desk.clock,
        locks=NoLocks(), limits=RiskLimits(max_daily_loss=D(9)), sizing=SizingPolicy(),
    )  # fmt: skip
    opened = next(desk.ids)
    desk.store.add(opened, alert(), desk.now)  # 0.005 BTC at 100,000, by the other worker
    await other.execute(opened)
    desk.move("BTC/USDT", "98000x1", "98010x1")

    denied = await desk.send(plain("ETH/USDT"))

    check = desk.check(denied, "max_daily_loss")
    assert check["passed"] is False
    assert "open positions -11.22" in str(check["detail"])  # BTC's -9.98 and SOL's -1.25


async def test_unrealized_loss_is_left_out_when_told() -> None:
    desk = Desk(RiskLimits(max_daily_loss=D(9), **REALIZED_ONLY))
    await desk.send(alert())
    desk.move("BTC/USDT", "98000x1", "98010x1")
    allowed = await desk.send(plain("ETH/USDT"))
    assert desk.store.rows[allowed].status is SignalStatus.EXECUTED


async def test_a_loss_in_another_quote_currency_is_converted_at_a_venues_price() -> None:
    desk = Desk(RiskLimits(max_daily_loss=D(15)))
    # 0.1 ETH bought at 0.03 BTC; ETH falls to 0.028 BTC (its stop is at 0.025)
    await desk.send(alert("ETH/BTC", quantity=D("0.1"), qty_mode=QtyMode.BASE, take_profits=(),
                          stop_loss=StopLoss(StopKind.PRICE, D("0.025"))))  # fmt: skip
    desk.move("ETH/BTC", "0.02800x10", "0.02801x10")

    denied = await desk.send(plain("ETH/USDT"))

    assert desk.store.rows[denied].status is SignalStatus.DENIED
    detail = str(desk.check(denied, "max_daily_loss")["detail"])
    # (0.028005 - 0.03) x 0.1 = -0.0001995 BTC, at BTC/USDT's mid 99,995: -19.95 USDT
    assert "open positions -19.95" in detail, detail
    assert "USDT" in detail


async def test_an_entry_in_a_quote_currency_no_venue_converts_is_refused_with_what_to_set() -> None:
    desk = Desk()
    refused = await desk.send(plain("ETH/EUR"))
    assert desk.store.rows[refused].status is SignalStatus.DENIED
    check = desk.check(refused, "max_daily_loss")
    assert check["detail"] == (
        "no venue quotes EUR/USDT, so P&L in EUR cannot be counted toward MAX_DAILY_LOSS in USDT:"
        " add a venue that lists EUR/USDT, or set ACCOUNT_CURRENCY=EUR if the account trades in"
        " EUR only"
    )
    assert refused not in desk.store.brackets


def test_sentences_round_alike_after_ccxt_changed_the_threads_decimal_context() -> None:
    """ccxt's decimal_to_precision sets the thread's context to ROUND_HALF_UP for good: a sum
    of -11.225 read -11.23 or -11.22 by whether a ccxt venue had been used in the process."""
    with decimal.localcontext():
        decimal_to_precision("1.5", ROUND, 0)  # as ccxt's amount_to_precision does
        assert decimal.getcontext().rounding == decimal.ROUND_HALF_UP

        assert number_text(D("-11.225"), 2) == "-11.22"
        assert number_text(D("1250"), 2) == "1,250.00"
