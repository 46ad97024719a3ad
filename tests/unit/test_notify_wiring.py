"""Where each event happens: the executor tells entries and denials, the bracket driver closes,
unprotected brackets and orders in doubt, each once (over in-process paper venues, no I/O)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.notifications import (
    BracketClosed,
    Drift,
    EntryExecuted,
    InDoubt,
    LegView,
    SignalDenied,
    TradingChanged,
    Unprotected,
)
from app.domain.orders import Leg, OrderRequest, OrderStatus
from app.domain.reconciliation import DriftPolicy
from app.domain.risk_values import TradingState
from app.domain.signals import Action, StopKind, StopLoss
from app.ports.errors import Fatal
from app.services.brackets.driver import BracketDriver
from app.services.trading import switch_trading
from tests.fakes_execution import MemoryExecutionStore, OnRecordFirst, RecordingNotifier
from tests.unit.test_execution import NOW, World, alert
from tests.unit.test_reconciliation import Desk, opened
from tests.unit.test_request_expiry import recorded, venue

pytestmark = pytest.mark.anyio
D = Decimal


def world(**kw: object) -> tuple[World, RecordingNotifier]:
    told = RecordingNotifier()
    return World(notifier=told, a="99990x1|100000x1", **kw), told  # type: ignore[arg-type]


async def test_an_entry_is_told_once_with_its_fill_and_legs() -> None:
    built, told = world()
    signal_id = await built.send(alert())
    await built.executor.execute(signal_id)  # a job run twice tells nothing more
    [executed] = told.events
    assert isinstance(executed, EntryExecuted)
    assert (executed.signal_id, executed.venue, executed.side) == (signal_id, "a", "buy")
    assert executed.account == "default"  # its signal's: that account's own channels hear it
    assert (executed.filled, executed.price, executed.state) == (D("0.005"), D(100_000), "open")
    assert executed.legs == (
        LegView("sl", "stop_market", D("0.005"), D(95_000), "accepted"),
        LegView("tp", "watched", D("0.005"), D(110_000), "watched"),
    )


async def test_a_denial_tells_every_failed_check_with_its_sentence() -> None:
    built, told = world()
    built.store.state = TradingState.REDUCING
    signal_id = await built.send(
        alert(quantity=D(2000), stop_loss=StopLoss(StopKind.PRICE, D(101_000)))
    )
    [denied] = told.events
    assert isinstance(denied, SignalDenied)
    assert (denied.signal_id, denied.symbol, denied.action) == (signal_id, "BTC/USDT", "buy")
    assert denied.account == "default"
    checks = {r.check: r.sentence for r in denied.reasons}
    assert {"trading_state", "max_order_notional", "tp_sl_sanity"} <= set(checks)
    lineage = built.store.lineage[signal_id][-1].data
    assert lineage is not None
    assert {c["name"]: c["detail"] for c in lineage["checks"] if not c["passed"]} == checks


async def test_a_denial_without_checks_tells_its_sentence() -> None:
    built, told = world()
    built.store.state = TradingState.HALTED
    await built.send(alert(Action.CLOSE, take_profits=(), stop_loss=None))
    [denied] = told.events
    assert isinstance(denied, SignalDenied)
    assert [(r.check, r.sentence) for r in denied.reasons] == [
        ("decision", "trading is halted: nothing is placed")
    ]


async def test_a_stop_loss_fill_tells_the_close_once_with_its_pnl_and_fees() -> None:
    built, told = world()
    signal_id = await built.send(alert())
    built.move("a", "94000x1", "94010x1")
    await built.monitor.run_once()
    await built.monitor.run_once()
    closed = [e for e in told.events if isinstance(e, BracketClosed)]
    bracket = built.store.brackets[signal_id]
    assert len(closed) == 1
    assert (closed[0].bracket_id, closed[0].exits, closed[0].account) == (
        signal_id, ("sl",), "default"
    )  # fmt: skip
    assert closed[0].realized_pnl == bracket.realized_pnl < 0
    assert closed[0].exit_price == D(94_000)
    assert closed[0].fees == D("0.50") + D("0.47")  # 0.1% of 500 in, of 470 out


class RefusesStops(OnRecordFirst):
    async def create_order(self, request: OrderRequest) -> OrderStatus:
        if "sl" in request.client_order_id:
            raise Fatal("stop orders are disabled on this account")
        return await super().create_order(request)


async def test_an_unprotected_bracket_is_told_with_why_and_the_policy() -> None:
    built, told = world()
    venue_a = built.venues["a"]
    refusing = RefusesStops(venue_a.venue, built.books.for_venue("a"), lambda: NOW)
    refusing.store = built.store
    built.venues["a"] = refusing  # the executor's and the monitor's mapping
    signal_id = await built.send(alert())
    [unprotected] = [e for e in told.events if isinstance(e, Unprotected)]
    assert (unprotected.bracket_id, unprotected.closing) == (signal_id, True)
    assert unprotected.account == "default"
    assert "stop orders are disabled on this account" in unprotected.why
    assert built.store.brackets[signal_id].closing


async def test_an_order_in_doubt_is_told_once_per_process() -> None:
    told, store = RecordingNotifier(), MemoryExecutionStore()
    driving = BracketDriver(store, lambda: NOW, notifier=told)
    bracket = recorded()
    store.save_bracket(bracket, NOW)
    for _ in range(3):
        bracket = await driving.drive(bracket, venue())
    assert told.events == [InDoubt(bracket.id, "paper", "BTC/USDT", Leg.ENTRY.value,
                                   bracket.orders[0].client_order_id, bracket.account)]  # fmt: skip


async def test_a_drift_is_told_urgently_and_a_halt_it_causes_is_told_too() -> None:
    desk = Desk(DriftPolicy.HALT)
    told = RecordingNotifier()
    desk.reconciler.notifier = told
    await opened(desk)
    desk.venue.liquidate()

    await desk.reconciler.run_once()

    [drift] = [e for e in told.events if isinstance(e, Drift)]
    [halt] = [e for e in told.events if isinstance(e, TradingChanged)]
    assert (drift.venue, drift.policy) == ("swaps", "halt")
    assert drift.accounts == tuple(sorted({b.account for b in desk.store.brackets.values()}))
    assert drift.accounts  # the accounts of the brackets involved hear it on their channels
    assert drift.note.startswith("swaps holds 0 BTC/USDT:USDT position")
    assert (halt.state, halt.reason) == ("halted", f"drift on swaps: {drift.note}")
    assert desk.store.state is TradingState.HALTED


def test_the_kill_switch_is_told_with_its_reason() -> None:
    told, store = RecordingNotifier(), MemoryExecutionStore()
    switch_trading(store, told, TradingState.REDUCING, NOW, "news at 14:30")
    assert store.state is TradingState.REDUCING
    assert told.events == [TradingChanged("reducing_only", "news at 14:30", NOW)]
