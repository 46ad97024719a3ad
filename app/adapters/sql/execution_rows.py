"""Execution values as the SQL store writes them and reads them back: bracket and order rows,
lineage steps, queued signals, orders as the API lists them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Select

from app.adapters.sql.db import as_utc, newest_first
from app.adapters.sql.tables_execution import orders
from app.domain.brackets.bracket import Bracket, LegOrder
from app.domain.brackets.pnl import realized_so_far
from app.domain.risk_values import TradingState
from app.domain.signals import Signal, SignalStatus
from app.ports.execution import (
    AccountState,
    Activity,
    Holding,
    LineageStep,
    OrderQuery,
    OrderView,
    PendingSignal,
    SignalState,
    leg_number,
)

_ZERO = Decimal(0)
# the view's fields read from the orders row's columns of the same names
_ORDER_COLUMNS = [
    name
    for name in OrderView.__struct_fields__
    if name not in ("signal_id", "created_at", "updated_at")
]


def step_row(step: LineageStep) -> dict[str, Any]:
    return {"signal_id": step.signal_id, "at": step.at, "status": step.step,
            "detail": short(step.detail), "data": step.data}  # fmt: skip


def bracket_rows(
    saves: Iterable[tuple[Bracket, datetime]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The brackets' rows and their orders' rows."""
    rows: list[dict[str, Any]] = []
    order_rows: list[dict[str, Any]] = []
    for bracket, at in saves:
        rows.append({
            "id": bracket.id,
            "account": bracket.account,
            "venue": bracket.venue,
            "symbol": bracket.symbol,
            "side": bracket.side.value,
            "state": bracket.state.value,
            "opened_at": bracket.opened_at,
            "closed_at": bracket.closed_at,
            "updated_at": at,
            "realized_pnl": realized_so_far(bracket),
            "position": bracket.position,
            "entry_price": bracket.entry_price,
            "data": msgspec.to_builtins(bracket),
        })  # fmt: skip
        order_rows.extend(_order_row(bracket, order, at) for order in bracket.orders)
    return rows, order_rows


def _order_row(bracket: Bracket, order: LegOrder, at: datetime) -> dict[str, Any]:
    return {
        "bracket_id": bracket.id,
        "account": bracket.account,
        "venue": bracket.venue,
        "symbol": bracket.symbol,
        "leg": order.leg.value,
        "revision": order.revision,
        "client_order_id": order.client_order_id,
        "order_id": order.order_id,
        "side": order.side.value,
        "kind": order.kind.value,
        "state": order.state.value,
        "amount": order.amount,
        "filled": order.filled,
        "average_price": order.average_price,
        "price": order.price,
        "trigger_price": order.trigger_price,
        "fee": order.fee,
        "fee_currency": order.fee_currency,
        "reduce_only": order.reduce_only,
        "created_at": at,
        "updated_at": at,
    }


def pending_signal(
    signal_id: str, received_at: datetime, status: str, signal: Any, started: object
) -> PendingSignal:
    return PendingSignal(
        id=signal_id,
        received_at=as_utc(received_at),
        status=SignalStatus(status),
        signal=msgspec.convert(signal, Signal),
        started=bool(started),
    )


def unit_legs(rows: Iterable[Any]) -> list[PendingSignal]:
    """The signals of a unit, from their rows, in leg order."""
    return sorted((pending_signal(*row) for row in rows), key=leg_number)


def order_view(row: Any) -> OrderView:
    """An order as the API lists it: its row's columns under the view's field names, the
    signal id being the bracket's, the times in UTC."""
    columns = row._mapping
    return OrderView(
        signal_id=row.bracket_id,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        **{name: columns[name] for name in _ORDER_COLUMNS},
    )


_DONE = ["filled", "cancelled", "rejected", "expired"]


def orders_query(query: OrderQuery) -> Select[Any]:
    """The orders `query` asks for, newest first."""
    stmt = newest_first(orders, query, bracket_id=query.signal_id, account=query.account,
                        symbol=query.symbol, venue=query.venue, state=query.state)  # fmt: skip
    return stmt.where(orders.c.state.notin_(_DONE)) if query.open_only else stmt


def signal_states(rows: Iterable[Any]) -> dict[str, SignalState]:
    """From rows of (id, account, symbol, status)."""
    return {i: SignalState(i, account, symbol, SignalStatus(status))
            for i, account, symbol, status in rows}  # fmt: skip


def pnl_change_rows(
    was: Mapping[str, Decimal], saves: Iterable[tuple[Bracket, datetime]]
) -> list[dict[str, Any]]:
    """The rows of `pnl_changes` for the brackets `saves` whose realized P&L saved so far was
    `was` (by bracket id; none for a new bracket): one per bracket whose realized P&L moved."""
    rows = []
    for bracket, at in saves:
        change = realized_so_far(bracket) - was.get(bracket.id, _ZERO)
        if change:
            rows.append({"account": bracket.account, "bracket_id": bracket.id, "at": at,
                         "currency": bracket.market.quote, "amount": change})  # fmt: skip
    return rows


def account_state(
    holdings: list[Holding], activity: Sequence[Any], symbol: str, realized: dict[str, Decimal]
) -> AccountState:
    """The account as the risk gate reads it, from its holdings rows, today's realized P&L by
    currency and its activity row (the orders of the last minute, the symbol's last stop-loss
    fill and partial fill, the trading state)."""
    recent, filled, partly, trading, own = activity
    stopped = max((at for at in (filled, partly) if at is not None), default=None)
    return AccountState(
        holdings=holdings,
        activity=Activity(
            realized_today=realized,
            orders_last_minute=int(recent or 0),
            last_stop_loss_at={} if stopped is None else {symbol: as_utc(stopped)},
        ),
        trading_state=TradingState(trading) if trading else TradingState.ACTIVE,
        account_trading_state=TradingState(own) if own else TradingState.ACTIVE,
    )


def short(text: str | None, limit: int = 2000) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
