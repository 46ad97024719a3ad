"""What the executor reads of the account and the venues for one signal, and the pure steps
from those readings to the risk gate's inputs: shared by single signals and units."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from app.domain.market import OrderBook
from app.domain.orders import Side
from app.domain.reservations import committed
from app.domain.risk_values import (
    AccountSnapshot,
    CheckResult,
    OpenPosition,
    RiskRequest,
    TradingState,
)
from app.domain.routing import Route, VenueQuote
from app.domain.signals import OrderType, Signal
from app.domain.targets import Targets
from app.ports.execution import AccountState, ExecutionStore

_ZERO = Decimal(0)


class VenueView(msgspec.Struct, frozen=True):
    """One venue as read for one symbol: the router's quote and the quote asset's total, and
    the books of the account's other positions on it read with them (marks, depth 1)."""

    quote: VenueQuote
    quote_total: Decimal
    marks: tuple[OrderBook, ...] = ()


def snapshot_of(
    account: str, state: AccountState, views: Sequence[VenueView], own: str | None = None
) -> AccountSnapshot:
    """The account as the risk gate sees it: what it holds, and the entries that hold nothing
    yet (resting, or approved and on their way; `own`: the entry being checked, not counted
    against itself), each of those on its way one more order of the last minute."""
    positions = tuple(
        OpenPosition(
            venue=h.venue,
            symbol=h.symbol,
            amount=h.position if h.side is Side.BUY else -h.position,
            entry_price=h.entry_price or _ZERO,
            mark_price=h.entry_price or _ZERO,
        )
        for h in state.holdings
        if h.position > 0
    )
    cash = sum((v.quote_total for v in views), _ZERO)
    activity = state.activity
    waiting = committed(state.resting, state.reserved.entries, state.on_record, own)
    trading = state.strictest_state
    return AccountSnapshot(
        account=account,
        trading_state=trading,
        # the account's own state decides, not the global kill switch
        own_trading_state=trading is not state.trading_state,
        positions=positions,
        committed=waiting,
        orders_last_minute=activity.orders_last_minute + sum(c.on_its_way for c in waiting),
        last_stop_loss_at=activity.last_stop_loss_at,
        equity=cash + sum((p.notional for p in positions), _ZERO),
    )


class Denial:
    """Collects every failed check for one denial."""

    def __init__(self, checks: list[CheckResult]) -> None:
        self.checks = checks
        self.failed_extra: list[CheckResult] = []

    def add(self, name: str, detail: str) -> None:
        result = CheckResult(name, False, detail)
        self.checks.append(result)
        self.failed_extra.append(result)

    @property
    def reasons(self) -> list[str]:
        return [c.detail for c in self.checks if not c.passed]


def risk_request(
    signal: Signal,
    side: Side,
    route: Route,
    views: Sequence[VenueView],
    targets: Targets | None,
    reference: Decimal,
) -> RiskRequest:
    chosen = route.chosen
    quote = next(v.quote for v in views if v.quote.venue == chosen.venue)
    assert quote.market is not None
    book = quote.book
    return RiskRequest(
        symbol=signal.symbol,
        side=side,
        amount=chosen.amount,
        price=chosen.average_price if signal.order_type is OrderType.MARKET else reference,
        reduces=False,
        market=quote.market,
        venue=chosen.venue,
        free_quote=quote.free_quote,
        free_base=quote.free_base,
        alert_price=signal.price,
        market_price=book.mid if book is not None else None,
        take_profits=tuple(p for p, _ in targets.take_profits) if targets else (),
        stop_loss=targets.stop_loss if targets else None,
        leverage=quote.leverage,
    )


def route_detail(route: Route) -> str:
    chosen = route.chosen
    text = (
        f"{chosen.venue}: {chosen.amount} at {chosen.average_price}, "
        f"{chosen.effective_price} with fees"
    )
    if route.alternatives:
        others = ", ".join(f"{c.venue} {c.effective_price}" for c in route.alternatives)
        text += f" (alternatives: {others})"
    return text


def halted_text(store: ExecutionStore, account: str, then: str) -> str:
    """Why a halted signal is denied: the global kill switch, or its account's."""
    if store.trading_state() is TradingState.HALTED:
        return f"trading is halted: {then}"
    resume = f"`signalgate accounts resume {account}`"
    return f"trading is halted for account {account} ({resume}): {then}"
