"""The reconciliation records in SQL, on SQLite and PostgreSQL: baselines, states and runs kept
exactly, the leftovers of settled brackets summed exactly, the entry holds a worker reads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy

from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.sql.reconciliation import SqlReconciliationStore
from app.domain.brackets.bracket import Bracket, BracketState, LegOrder
from app.domain.market import Market
from app.domain.orders import Leg, OrderKind, OrderState, Side
from app.ports.reconciliation import KeyState, VenueRun

D = Decimal
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
BTC = Market("BTC/USDT", "BTC", "USDT", amount_step=D("0.00001"))


def bracket(
    number: int, state: BracketState, bought: str, sold: str, side: Side = Side.BUY
) -> Bracket:
    """A bracket whose entry filled `bought` and whose exit filled `sold`."""
    bracket_id = f"01KB{number:022d}"
    orders = (
        LegOrder(Leg.ENTRY, f"sg{bracket_id}en00", side, OrderKind.MARKET, D(bought),
                 state=OrderState.FILLED, order_id=f"{number}1", filled=D(bought)),
        LegOrder(Leg.EXIT, f"sg{bracket_id}ex00", side.opposite, OrderKind.MARKET, D(sold),
                 state=OrderState.FILLED, order_id=f"{number}2", filled=D(sold)),
    )  # fmt: skip
    return Bracket(bracket_id, "default", "binance", "BTC/USDT", side, BTC, NOW, state=state,
                   orders=orders)  # fmt: skip


def state(drift: str, *, hold: bool = False, symbol: str = "BTC/USDT") -> KeyState:
    return KeyState(
        venue="binance", symbol=symbol, key="BTC", kind="balance", venue_amount=D("0.61"),
        book=D("0.51"), baseline=D("0.5"), brackets=D("0.01"), drift=D(drift), policy="reduce_only",
        hold=hold, checked_at=NOW, drift_since=NOW if hold else None, incidents=2,
        adjusted=D("0.005"), note="binance holds 0.61 BTC where signalgate's book says 0.51",
    )  # fmt: skip


def test_settled_brackets_leftovers_are_summed_exactly(engine: sqlalchemy.Engine) -> None:
    execution = SqlExecutionStore(engine)
    for saved in (
        bracket(1, BracketState.CLOSED, "0.0122877", "0.01228"),  # dust 0.0000077 left
        bracket(2, BracketState.CLOSED, "0.0100000001", "0.01"),  # dust 1e-10
        bracket(3, BracketState.CLOSED, "0.02", "0.02"),  # nothing left
        bracket(4, BracketState.OPEN, "0.03", "0"),  # open: not a leftover
        bracket(5, BracketState.CLOSED, "0.002", "0.0019", Side.SELL),
    ):
        execution.save_bracket(saved, NOW)

    settled = SqlReconciliationStore(engine).settled_positions("binance")

    assert settled == {
        ("BTC/USDT", Side.BUY): D("0.0000077") + D("1E-10"),
        ("BTC/USDT", Side.SELL): D("0.0001"),
    }
    assert SqlReconciliationStore(engine).settled_positions("okx") == {}


def test_baselines_states_and_runs_are_kept_exactly(engine: sqlalchemy.Engine) -> None:
    records = SqlReconciliationStore(engine)
    records.record_baseline("binance", "BTC", D("0.500000000000000001"), NOW)
    records.record_baseline("binance", "BTC", D("0.5"), NOW)  # replaced
    records.record_baseline("binanceusdm", "BTC/USDT:USDT", D("-0.1"), NOW)
    records.save_states([state("0.1", hold=True), state("0", symbol="BTC/USDC")])
    records.save_run(VenueRun("binance", NOW, None, 3))

    assert records.baselines("binance") == {"BTC": D("0.5")}
    assert records.baselines("binanceusdm") == {"BTC/USDT:USDT": D("-0.1")}
    assert records.states() == [state("0", symbol="BTC/USDC"), state("0.1", hold=True)]
    assert records.states("okx") == []
    assert records.runs() == [VenueRun("binance", NOW, None, 3)]


def test_a_worker_reads_the_holds_at_most_once_a_second(engine: sqlalchemy.Engine) -> None:
    clock = [0.0]
    writer = SqlReconciliationStore(engine)
    reader = SqlReconciliationStore(engine, monotonic=lambda: clock[0])
    assert reader.entry_hold("BTC/USDT") is None

    writer.save_states([state("0.1", hold=True)])
    assert reader.entry_hold("BTC/USDT") is None  # read less than a second ago: as it was
    clock[0] = 1.0
    held = reader.entry_hold("BTC/USDT")

    assert held is not None
    assert held.startswith("drift on binance: 0.1 BTC that signalgate's book does not explain")
    assert reader.entry_hold("ETH/USDT") is None
