"""PostgreSQL: the account read in one statement (`app.adapters.sql.account_statement`) answers
what the statements one by one (`AccountReads`) answer, exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from msgspec.structs import replace

from app.adapters.sql.account_reads import AccountReads
from app.adapters.sql.account_statement import AccountStatement
from app.adapters.sql.db import make_engine, transaction
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.sql.holdings import HoldingRows
from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg, OrderKind, OrderState
from app.domain.risk_values import TradingState
from tests.unit.test_brackets import SPOT, entry, long

pytestmark = [pytest.mark.postgres]
NOW = datetime(2026, 12, 6, 12, 0, 0, 654321, tzinfo=UTC)


def test_the_one_statement_reads_the_account_as_the_statements_one_by_one(
    postgres_url: str,
) -> None:
    """Holdings with 18 decimal places, resting entries (a price, a trigger, neither), today's
    realized P&L in two currencies (yesterday's left out), the last stop-loss fill, an entry in
    doubt, reserved entries on record and the trading states."""
    engine = make_engine(postgres_url)
    store = SqlExecutionStore(engine)
    fine = Decimal("0.123456789012345678")
    paid = replace(entry(), amount=fine, filled=fine, average_price=Decimal("98765.4321098765"),
                   fee=Decimal("0.000000000000000003"), fee_currency="USDT")  # fmt: skip
    euro = replace(SPOT, symbol="BTC/EUR", quote="EUR")
    limit = replace(entry("0.004", OrderState.PARTIALLY_FILLED), kind=OrderKind.LIMIT,
                    price=Decimal("90.000000000000000001"), client_order_id="e1")  # fmt: skip
    stop = replace(
        entry("0", OrderState.ACCEPTED),
        kind=OrderKind.STOP_MARKET,
        average_price=None,
        trigger_price=Decimal(120),
        client_order_id="e3",
    )
    market = replace(entry("0", OrderState.SUBMITTED), average_price=None, client_order_id="e2")
    doubt = replace(entry("0", OrderState.UNKNOWN), order_id=None, average_price=None,
                    client_order_id="e4")  # fmt: skip
    sold = replace(entry("0.010", OrderState.FILLED), leg=Leg.STOP_LOSS, client_order_id="s5",
                   fee=Decimal("0.07"), fee_currency="USDT")  # fmt: skip
    yesterday = NOW - timedelta(days=1)
    try:
        for bracket, at in [
            (replace(long(paid), id="b0", state=BracketState.OPEN), NOW),
            (replace(long(replace(paid, client_order_id="eu", fee_currency="EUR")), id="b9",
                     symbol="BTC/EUR", market=euro, state=BracketState.OPEN), NOW),
            (replace(long(replace(paid, client_order_id="y")), id="b8", symbol="ETH/USDT",
                     state=BracketState.OPEN), yesterday),
            (replace(long(limit), id="b1"), NOW),
            (replace(long(stop), id="b3", venue="other"), NOW),
            (replace(long(market), id="b2", symbol="ETH/USDT"), NOW),
            (replace(long(doubt), id="b4"), NOW),
            (replace(long(replace(paid, client_order_id="e7"), sold), id="b7",
                     state=BracketState.CLOSED, closed_at=NOW), NOW),
        ]:  # fmt: skip
            store.save_bracket(bracket, at)
        store.set_trading_state(TradingState.REDUCING, NOW, "test")
        reads = AccountReads(engine, HoldingRows(engine))
        one = AccountStatement(engine)
        answers = []
        for symbol in ("BTC/USDT", "ETH/USDT"):
            for reader in (reads, one):
                with transaction(engine, reads=True) as conn:
                    answer = reader.ask(conn, "default", symbol, NOW, ["b1", "b7", "none"])
                answers.append(answer())
        # (the statements one by one list resting entries in no order)
        answers = [replace(a, resting=tuple(sorted(a.resting, key=lambda e: e.bracket_id)))
                   for a in answers]  # fmt: skip
        assert answers[1] == answers[0]
        assert answers[3] == answers[2]
        state = answers[1]
        tiny = Decimal("-0.000000000000000003")
        assert state.activity.realized_today == {"USDT": tiny, "EUR": tiny}
        assert [h.position for h in state.holdings if h.venue == "paper"][:1] == [fine]
        assert [b.id for b in state.in_doubt] == ["b4"]
        assert state.on_record == {"b1"}
        assert len(state.resting) == 4
        assert state.trading_state is TradingState.REDUCING
        assert state.activity.last_stop_loss_at == {"BTC/USDT": NOW}
    finally:
        engine.dispose()
