"""HTTP routes of execution: orders, positions, and the kill switch.

Reads follow the read API's rule and the switches the admin rule (`guards`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter

from app.domain.brackets.bracket import Bracket
from app.domain.brackets.pnl import unrealized_pnl
from app.domain.orders import Side
from app.domain.risk_values import TradingState
from app.entrypoints.web.answers import READ_ACCESS, errors
from app.entrypoints.web.bodies import SwitchOperation
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.guards import requires_admin_token, requires_read_access
from app.ports.errors import ExchangeError
from app.ports.execution import OrderQuery, OrderView

if TYPE_CHECKING:
    from app.bootstrap.web import Services


@dataclass(frozen=True)
class OrderFilter:
    """The query parameters of `GET /orders`, which Litestar reads and checks."""

    account: FromQuery[str | None] = None
    symbol: FromQuery[str | None] = None
    venue: FromQuery[str | None] = None
    # Litestar fills a parameter named `state` with the app's state: the field takes another
    # name, and the property below gives the port's query its `state`
    order_state: Annotated[str | None, QueryParameter(name="state")] = None
    open_only: Annotated[bool, QueryParameter(name="open")] = False
    # an order id: a database integer (a larger one would overflow the query, a 500)
    before: Annotated[
        int | None,
        QueryParameter(description="`next` of the previous page", ge=1, le=2**63 - 1),
    ] = None
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100

    @property
    def state(self) -> str | None:
        return self.order_state


class OrderPage(msgspec.Struct):
    orders: list[OrderView]
    next: int | None


class PositionView(msgspec.Struct):
    bracket_id: str
    account: str
    venue: str
    symbol: str
    side: str  # long | short
    amount: Decimal
    entry_price: Decimal | None
    mark_price: Decimal | None
    unrealized_pnl: Decimal | None
    state: str
    stop_loss: Decimal | None
    take_profits: list[Decimal]
    opened_at: datetime


class TradingStateView(msgspec.Struct):
    trading_state: str
    reason: str | None = None


@get(
    "/orders",
    summary="Orders signalgate placed, newest first",
    guards=[requires_read_access],
    dependencies={"filters": Provide(OrderFilter, sync_to_thread=False)},
    security=READ_ACCESS,
    responses=errors(400, 401),
)
async def list_orders(
    request: Request[Any, Any, Any], filters: NamedDependency[OrderFilter]
) -> OrderPage:
    query = msgspec.convert(filters, OrderQuery, from_attributes=True)
    found = await asyncio.to_thread(services_of(request).execution.orders, query)
    return OrderPage(found, found[-1].id if len(found) == query.limit else None)


@get(
    "/positions",
    summary="Open positions with their unrealized P&L",
    guards=[requires_read_access],
    security=READ_ACCESS,
    responses=errors(401),
)
async def list_positions(
    request: Request[Any, Any, Any],
    account: FromQuery[str | None] = None,
) -> list[PositionView]:
    return [position for position, _ in await open_positions(services_of(request), account)]


async def open_positions(
    services: Services, account: str | None = None
) -> list[tuple[PositionView, Bracket]]:
    """The brackets that hold something, each with its position marked at its venue's mid (no
    mark, nor unrealized P&L, when the venue cannot say now)."""
    brackets = await asyncio.to_thread(services.execution.open_brackets, account)
    held = [b for b in brackets if b.position > 0]
    marks = await _marks(await services.marking_venues(), {(b.venue, b.symbol) for b in held})
    return [(_position(b, marks.get((b.venue, b.symbol))), b) for b in held]


async def _marks(
    venues: dict[str, Any], pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], Decimal]:
    async def mark(venue: str, symbol: str) -> Decimal | None:
        exchange = venues.get(venue)
        if exchange is None:
            return None
        try:
            book = await exchange.order_book(symbol, 1)
        except ExchangeError:
            return None
        mid: Decimal | None = book.mid
        return mid

    found = await asyncio.gather(*(mark(v, s) for v, s in pairs))
    return {pair: m for pair, m in zip(pairs, found, strict=True) if m is not None}


def _position(bracket: Bracket, mark: Decimal | None) -> PositionView:
    return PositionView(
        bracket_id=bracket.id,
        account=bracket.account,
        venue=bracket.venue,
        symbol=bracket.symbol,
        side="long" if bracket.side is Side.BUY else "short",
        amount=bracket.position,
        entry_price=bracket.entry_price,
        mark_price=mark,
        unrealized_pnl=None if mark is None else unrealized_pnl(bracket, mark),
        state=bracket.state.value,
        stop_loss=bracket.stop_loss,
        take_profits=[price for price, _ in bracket.take_profits],
        opened_at=bracket.opened_at,
    )


_ADMIN = (requires_admin_token,)
_SWITCH_ERRORS = errors(401, 403, 413, e403="API_TOKEN is not set: set it to use the admin API")


class SwitchBody(msgspec.Struct):
    reason: str | None = None


async def _switch(request: Request[Any, Any, Any], state: TradingState) -> TradingStateView:
    raw = await request.body()
    reason = "set through the API"
    if raw.strip():
        try:
            reason = msgspec.json.decode(raw, type=SwitchBody).reason or reason
        except msgspec.DecodeError:
            reason = raw.decode(errors="replace")[:500]
    await asyncio.to_thread(services_of(request).switch_trading, state, reason)
    return TradingStateView(state.value, reason)


@post(
    "/admin/halt",
    summary="Kill switch: deny every signal",
    status_code=200,
    guards=_ADMIN,
    security=READ_ACCESS,
    responses=_SWITCH_ERRORS,
    operation_class=SwitchOperation,
)
async def halt(request: Request[Any, Any, Any]) -> TradingStateView:
    return await _switch(request, TradingState.HALTED)


@post(
    "/admin/reduce-only",
    summary="Deny entries, allow exits",
    status_code=200,
    guards=_ADMIN,
    security=READ_ACCESS,
    responses=_SWITCH_ERRORS,
    operation_class=SwitchOperation,
)
async def reduce_only(request: Request[Any, Any, Any]) -> TradingStateView:
    return await _switch(request, TradingState.REDUCING)


@post(
    "/admin/resume",
    summary="Trade normally again",
    status_code=200,
    guards=_ADMIN,
    security=READ_ACCESS,
    responses=_SWITCH_ERRORS,
    operation_class=SwitchOperation,
)
async def resume(request: Request[Any, Any, Any]) -> TradingStateView:
    return await _switch(request, TradingState.ACTIVE)


@get(
    "/admin/state",
    summary="The trading state",
    guards=[requires_read_access],
    security=READ_ACCESS,
    responses=errors(401),
)
async def trading_state(request: Request[Any, Any, Any]) -> TradingStateView:
    state = await asyncio.to_thread(services_of(request).execution.trading_state)
    return TradingStateView(state.value)


EXECUTION_ROUTES = [list_orders, list_positions, halt, reduce_only, resume, trading_state]
