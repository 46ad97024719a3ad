"""A backtest's figures from its equity curve and its closed brackets (pure, Decimal money).

- total return: final equity / starting balance - 1
- annualized: (1 + total) ** (one year / the curve's duration) - 1
- max drawdown: the largest fall from a running peak of equity, as a fraction of that peak
- Sharpe: mean / standard deviation of the per-candle returns, times sqrt(candles per year),
  no risk-free rate
- exposure: the share of candles that ended with a position held
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import msgspec

from app.domain.brackets.bracket import Bracket, BracketState
from app.domain.orders import Leg

_YEAR = timedelta(days=365)


class EquityPoint(msgspec.Struct, frozen=True):
    at: datetime
    equity: Decimal
    exposed: bool


class Trade(msgspec.Struct, frozen=True):
    """One closed bracket: what went in and out, and what it made after fees."""

    id: str
    symbol: str
    side: str
    opened_at: datetime
    closed_at: datetime
    amount: Decimal
    entry_price: Decimal
    exit_price: Decimal
    fees: Decimal
    pnl: Decimal


class Report(msgspec.Struct, frozen=True):
    trades: int
    wins: int
    win_rate: float
    start_equity: Decimal
    end_equity: Decimal
    total_return: float
    annualized_return: float
    max_drawdown: float
    sharpe: float
    fees: Decimal
    exposure: float


def trades_of(brackets: Iterable[Bracket]) -> list[Trade]:
    """Every closed bracket whose entry filled, oldest first."""
    trades = []
    for b in brackets:
        if b.state is not BracketState.CLOSED or b.entry_price is None or b.closed_at is None:
            continue
        exits = [o for o in b.orders if o.leg is not Leg.ENTRY and o.filled > 0]
        out = sum((o.filled for o in exits), Decimal(0))
        if not out:
            continue
        value = sum((o.filled * (o.average_price or b.entry_price) for o in exits), Decimal(0))
        trades.append(
            Trade(
                id=b.id,
                symbol=b.symbol,
                side=str(b.side),
                opened_at=b.opened_at,
                closed_at=b.closed_at,
                amount=out,
                entry_price=b.entry_price,
                exit_price=value / out,
                fees=sum((o.fee for o in b.orders), Decimal(0)),
                pnl=b.realized_pnl,
            )
        )
    return sorted(trades, key=lambda t: (t.closed_at, t.id))


def report(
    balance: Decimal, equity: Sequence[EquityPoint], trades: Sequence[Trade], fees: Decimal
) -> Report:
    end = equity[-1].equity if equity else balance
    total = float(end / balance - 1) if balance else 0.0
    wins = sum(1 for t in trades if t.pnl > 0)
    return Report(
        trades=len(trades),
        wins=wins,
        win_rate=wins / len(trades) if trades else 0.0,
        start_equity=balance,
        end_equity=end,
        total_return=total,
        annualized_return=_annualized(total, equity),
        max_drawdown=max_drawdown([p.equity for p in equity]),
        sharpe=sharpe(equity),
        fees=fees,
        exposure=sum(1 for p in equity if p.exposed) / len(equity) if equity else 0.0,
    )


def max_drawdown(values: Sequence[Decimal]) -> float:
    peak, worst = None, 0.0
    for value in values:
        peak = value if peak is None or value > peak else peak
        if peak > 0:
            worst = max(worst, float((peak - value) / peak))
    return worst


def sharpe(equity: Sequence[EquityPoint]) -> float:
    if len(equity) < 3:
        return 0.0
    returns = [float(b.equity / a.equity - 1) for a, b in itertools.pairwise(equity) if a.equity]
    deviation = statistics.pstdev(returns)
    if deviation == 0:
        return 0.0
    return statistics.fmean(returns) / deviation * math.sqrt(_per_year(equity))


def _per_year(equity: Sequence[EquityPoint]) -> float:
    step = statistics.median((b.at - a.at).total_seconds() for a, b in itertools.pairwise(equity))
    return _YEAR.total_seconds() / step if step > 0 else 0.0


def _annualized(total: float, equity: Sequence[EquityPoint]) -> float:
    if len(equity) < 2 or total <= -1:
        return -1.0 if total <= -1 else 0.0
    years = (equity[-1].at - equity[0].at) / _YEAR
    return (1 + total) ** (1 / years) - 1 if years > 0 else 0.0


def text(result_report: Report, *, symbol: str, strategy: str, candles: int) -> str:
    r = result_report
    lines = [
        f"backtest: {strategy} on {symbol}, {candles:,} candles",
        f"  trades          {r.trades} ({r.wins} won, win rate {r.win_rate:.1%})",
        f"  equity          {r.start_equity:,.2f} -> {r.end_equity:,.2f}",
        f"  total return    {r.total_return:+.2%}",
        f"  annualized      {r.annualized_return:+.2%}",
        f"  max drawdown    {r.max_drawdown:.2%}",
        f"  Sharpe          {r.sharpe:.2f}",
        f"  fees paid       {r.fees:,.2f}",
        f"  exposure        {r.exposure:.1%} of candles with a position",
    ]
    return "\n".join(lines)


def trades_csv(trades: Sequence[Trade]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = list(Trade.__struct_fields__)
    writer.writerow(fields)
    for trade in trades:
        row = msgspec.to_builtins(trade)
        writer.writerow([row[f] for f in fields])
    return out.getvalue()
