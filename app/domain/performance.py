"""Strategy performance: closed trades, win rate, average win and loss, P&L and the deepest fall
of the running P&L, per strategy, account and currency, from the brackets a strategy closed.

Pure code: the closed trades are passed in (`ClosedTrade`: one closed bracket, its realized P&L
with fees deducted, in its market's quote currency).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

_ZERO = Decimal(0)
_RATE = Decimal("0.0001")


class ClosedTrade(msgspec.Struct, frozen=True):
    strategy: str | None  # the signal's strategy (None: an alert that named none)
    account: str
    currency: str  # the market's quote currency, the P&L's
    closed_at: datetime
    pnl: Decimal  # realized, fees deducted


class Performance(msgspec.Struct, frozen=True):
    strategy: str | None
    account: str
    currency: str
    trades: int  # closed brackets
    wins: int  # closed with a gain
    losses: int  # closed with a loss (a trade at exactly 0 is neither)
    win_rate: Decimal  # wins / trades, 0 to 1
    average_win: Decimal | None  # None: no win
    average_loss: Decimal | None  # negative; None: no loss
    pnl: Decimal  # the sum of the trades'
    max_drawdown: Decimal  # the deepest fall of the running P&L from its high (from 0), >= 0
    first_closed_at: datetime
    last_closed_at: datetime


def quote_of(symbol: str) -> str:
    """The quote currency of a ccxt symbol: `BTC/USDT` and `BTC/USDT:USDT` -> `USDT`."""
    return symbol.partition("/")[2].partition(":")[0] or symbol


def performance(trades: Iterable[ClosedTrade]) -> list[Performance]:
    """One `Performance` per strategy, account and currency, in that order."""
    groups: dict[tuple[str, str, str], list[ClosedTrade]] = {}
    for trade in trades:
        key = (trade.strategy or "", trade.account, trade.currency)
        groups.setdefault(key, []).append(trade)
    return [_of(sorted(group, key=lambda t: t.closed_at)) for _, group in sorted(groups.items())]


def _of(trades: list[ClosedTrade]) -> Performance:
    wins = [t.pnl for t in trades if t.pnl > 0]
    losses = [t.pnl for t in trades if t.pnl < 0]
    running = high = deepest = _ZERO
    for trade in trades:
        running += trade.pnl
        high = max(high, running)
        deepest = max(deepest, high - running)
    first = trades[0]
    return Performance(
        strategy=first.strategy,
        account=first.account,
        currency=first.currency,
        trades=len(trades),
        wins=len(wins),
        losses=len(losses),
        win_rate=(Decimal(len(wins)) / len(trades)).quantize(_RATE, ROUND_HALF_EVEN),
        average_win=sum(wins, _ZERO) / len(wins) if wins else None,
        average_loss=sum(losses, _ZERO) / len(losses) if losses else None,
        pnl=running,
        max_drawdown=deepest,
        first_closed_at=first.closed_at,
        last_closed_at=trades[-1].closed_at,
    )
