"""Strategy performance from closed trades: pure arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.domain.performance import ClosedTrade, performance, quote_of

D = Decimal

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def trade(pnl: str, minute: int, strategy: str | None = "momentum", **kw: str) -> ClosedTrade:
    fields = {"account": "default", "currency": "USDT", **kw}
    return ClosedTrade(strategy, fields["account"], fields["currency"],
                       T0 + timedelta(minutes=minute), D(pnl))  # fmt: skip


def test_wins_losses_averages_pnl_and_the_deepest_fall_from_a_high() -> None:
    # running P&L: 10, 4, -6 (the fall from 10 to -6 is 16), 14, 12
    trades = [trade("10", 1), trade("-6", 2), trade("-10", 3), trade("20", 4), trade("-2", 5)]
    [made] = performance(reversed(trades))  # the order is the closing times'
    assert (made.trades, made.wins, made.losses) == (5, 2, 3)
    assert made.win_rate == D("0.4")
    assert (made.average_win, made.average_loss) == (D(15), D(-6))
    assert (made.pnl, made.max_drawdown) == (D(12), D(16))
    assert made.first_closed_at == trades[0].closed_at
    assert made.last_closed_at == trades[-1].closed_at


def test_a_first_loss_is_a_drawdown_from_zero_and_break_even_is_neither_win_nor_loss() -> None:
    [made] = performance([trade("-3", 1), trade("0", 2)])
    assert (made.wins, made.losses, made.win_rate) == (0, 1, D(0))
    assert (made.average_win, made.average_loss, made.max_drawdown) == (None, D(-3), D(3))


def test_one_line_per_strategy_account_and_currency() -> None:
    made = performance([
        trade("1", 1), trade("2", 2, account="b"), trade("3", 3, currency="BTC"),
        trade("4", 4, strategy=None), trade("5", 5),
    ])  # fmt: skip
    keys = [(m.strategy, m.account, m.currency, m.pnl) for m in made]
    assert keys == [
        (None, "default", "USDT", D(4)),
        ("momentum", "b", "USDT", D(2)),
        ("momentum", "default", "BTC", D(3)),
        ("momentum", "default", "USDT", D(6)),
    ]


def test_the_quote_currency_of_spot_and_swap_symbols() -> None:
    assert [quote_of(s) for s in ("BTC/USDT", "ETH/USDT:USDT", "DOGE/USD:DOGE")] == [
        "USDT", "USDT", "USD"
    ]  # fmt: skip
