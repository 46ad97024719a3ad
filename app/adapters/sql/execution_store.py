"""`ExecutionStore` in SQL: brackets with their orders, lineage steps and the trading controls."""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from typing import Any

import msgspec
from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.types import NullType

from app.adapters.sql.db import dialect_insert, events, signals, transaction
from app.adapters.sql.prepared import Prepared
from app.adapters.sql.tables_execution import BracketRow, ControlRow, HoldingRow, OrderRow
from app.domain.brackets.bracket import FINAL, Bracket, LegOrder
from app.domain.orders import Leg
from app.domain.risk_values import TradingState
from app.domain.signals import PENDING, Signal, SignalStatus
from app.ports.execution import (
    AccountState,
    Activity,
    Holding,
    OrderQuery,
    OrderView,
    PendingSignal,
    SignalState,
    leg_number,
)

brackets = BracketRow.__table__  # type: ignore[attr-defined]
holdings = HoldingRow.__table__  # type: ignore[attr-defined]
orders = OrderRow.__table__  # type: ignore[attr-defined]
controls = ControlRow.__table__  # type: ignore[attr-defined]

_OPEN = [s.value for s in PENDING]
_FINAL = [s.value for s in FINAL]
_TRADING = "trading_state"
_ORDER_CHANGES = {"order_id", "state", "amount", "filled", "average_price", "price",
                  "trigger_price", "fee", "fee_currency", "reduce_only", "updated_at"}  # fmt: skip
_ZERO = Decimal(0)
log = logging.getLogger("signalgate.execution")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _order_row(bracket: Bracket, order: LegOrder, at: datetime) -> dict[str, Any]:
    return {
        "bracket_id": bracket.id,
        "account": bracket.account,
        "venue": bracket.venue,
        "symbol": bracket.symbol,
        "leg": order.leg.value,
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


class SqlExecutionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)
        self._steps: list[dict[str, Any]] = []  # lineage steps not written yet
        self._saves: dict[str, tuple[Bracket, datetime]] = {}  # brackets not written yet
        # The statements of every signal, compiled once and run on the driver's cursor
        # (`Prepared`); the rest are built once with bound parameters, so that SQLAlchemy reuses
        # their compiled form.
        prepared = functools.partial(Prepared, engine)
        # Holdings: a few rows kept up to date by every bracket save (`_move_holdings`).
        self._holdings = prepared(
            select(holdings.c.venue, holdings.c.symbol, holdings.c.side, holdings.c.position,
                   holdings.c.cost, holdings.c.brackets)
            .where(holdings.c.account == bindparam("account"))
            .order_by(holdings.c.venue, holdings.c.symbol, holdings.c.side)
        )  # fmt: skip
        self._held_before = prepared(select(*_CONTRIBUTION).where(brackets.c.id == bindparam("id")))
        holding_row = [holdings.c[name] == bindparam(name) for name in _HOLDING_KEY]
        self._holding = prepared(
            select(holdings.c.position, holdings.c.cost, holdings.c.brackets).where(*holding_row)
        )
        self._upsert_holding = prepared(
            _upsert(self._insert(holdings), list(_HOLDING_KEY), keep=set())
        )
        self._drop_holding = prepared(holdings.delete().where(*holding_row))
        self._add_steps = prepared(events.insert())
        self._set_status = prepared(
            update(signals)
            .where(signals.c.id == bindparam("signal_id"))
            .values(status=bindparam("new_status"), updated_at=bindparam("at"),
                    reason=bindparam("reason"))
        )  # fmt: skip
        # The rest of the account in one row: today's P&L, the orders of the last minute, the
        # symbol's last stop-loss fill and partial fill, the trading state.
        account: Any = bindparam("account")
        self._activity = prepared(
            select(
                select(type_coerce(func.coalesce(func.sum(brackets.c.realized_pnl), 0), NullType()))
                .where(brackets.c.account == account, brackets.c.closed_at >= bindparam("day"))
                .scalar_subquery(),
                select(func.count())
                .where(orders.c.account == account, orders.c.created_at >= bindparam("since"))
                .scalar_subquery(),
                *(
                    select(func.max(orders.c.updated_at))
                    .where(
                        orders.c.account == account,
                        orders.c.symbol == bindparam("symbol"),
                        orders.c.leg == Leg.STOP_LOSS.value,
                        orders.c.state == state,
                        orders.c.updated_at >= bindparam("yesterday"),
                    )
                    .scalar_subquery()
                    for state in ("filled", "partially_filled")
                ),
                select(controls.c.value).where(controls.c.name == _TRADING).scalar_subquery(),
            )
        )
        self._trading = select(controls.c.value).where(controls.c.name == _TRADING)
        self._bracket = select(brackets.c.data).where(brackets.c.id == bindparam("id"))
        columns = (signals.c.id, signals.c.received_at, signals.c.status, signals.c.signal,
                   brackets.c.id.is_not(None).label("started"))  # fmt: skip
        with_bracket = signals.outerjoin(brackets, brackets.c.id == signals.c.id)
        self._states = select(
            signals.c.id, signals.c.account, signals.c.symbol, signals.c.status
        ).where(signals.c.id.in_(bindparam("ids", expanding=True)))
        self._one_signal = (
            select(*columns).select_from(with_bracket).where(signals.c.id == bindparam("id"))
        )
        self._unit = (
            select(*columns).select_from(with_bracket).where(signals.c.unit_id == bindparam("unit"))
        )
        self._pending = prepared(
            select(*columns)
            .select_from(with_bracket)
            .where(
                signals.c.account == bindparam("account"),
                signals.c.symbol == bindparam("symbol"),
                _any_of(signals.c.status, _OPEN),
                signals.c.id <= bindparam("up_to"),
            )
            .order_by(signals.c.id)
        )
        self._upsert_bracket = prepared(_upsert(self._insert(brackets), ["id"], keep={"id"}))
        # an order's own columns (bracket, account, symbol, leg, side, kind, creation) never
        # change: left out of the update, their indexes are not rewritten (-40% per upsert)
        self._upsert_orders = prepared(
            _upsert(self._insert(orders), ["venue", "client_order_id"],
                    keep={c.name for c in orders.columns} - _ORDER_CHANGES)
        )  # fmt: skip

    def _begin(self) -> AbstractContextManager[Connection]:
        return transaction(self._engine)

    def _reading(self) -> AbstractContextManager[Connection]:
        """A read that sees this store's own saves: they are written first."""
        if self._saves:
            self.flush()
        return self._begin()

    def flush(self) -> None:
        if self._steps or self._saves:
            with self._writing():
                pass

    # --- signals ------------------------------------------------------------------------------

    def signal(self, signal_id: str) -> PendingSignal | None:
        with self._reading() as conn:
            row = conn.execute(self._one_signal, {"id": signal_id}).first()
        return None if row is None else _pending(*row)

    def states(self, signal_ids: Sequence[str]) -> dict[str, SignalState]:
        with self._reading() as conn:
            rows = conn.execute(self._states, {"ids": list(signal_ids)}).all()
        return {r.id: SignalState(r.id, r.account, r.symbol, SignalStatus(r.status)) for r in rows}

    def unit(self, unit_id: str) -> list[PendingSignal]:
        with self._reading() as conn:
            rows = conn.execute(self._unit, {"unit": unit_id}).all()
        return sorted((_pending(*row) for row in rows), key=leg_number)

    def pending(self, account: str, symbol: str, up_to: str) -> list[PendingSignal]:
        values = {"account": account, "symbol": symbol, "up_to": up_to}
        with self._reading() as conn:
            return [_pending(*row) for row in self._pending.rows(conn, values)]

    def record(
        self,
        signal_id: str,
        at: datetime,
        step: str,
        detail: str | None = None,
        data: dict[str, Any] | None = None,
        *,
        status: SignalStatus | None = None,
    ) -> None:
        """Lineage steps are written with the next bracket save or status change (one
        transaction instead of one each); a status change is written at once."""
        self._steps.append(
            {"signal_id": signal_id, "at": at, "status": step, "detail": _short(detail),
             "data": data}
        )  # fmt: skip
        if status is None:
            return
        values = {"signal_id": signal_id, "new_status": status.value, "at": at,
                  "reason": _short(detail, 500)}  # fmt: skip
        with self._writing() as conn:
            self._set_status.execute(conn, values)

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction that also writes the waiting lineage steps and bracket saves.

        On failure the steps are kept for the next write, the saves dropped: a bracket is saved
        under its account-and-symbol lock, and a save written after the lock is gone could
        overwrite a newer one (what the venue did is read back by the monitor anyway).
        """
        steps, self._steps = self._steps, []
        saves, self._saves = self._saves, {}
        try:
            rows, order_rows = _bracket_rows(saves.values())  # before the write lock is taken
            with transaction(self._engine, write=True) as conn:
                if steps:
                    self._add_steps.executemany(conn, steps)
                if saves:
                    self._write_brackets(conn, saves.values(), rows, order_rows)
                yield conn
        except BaseException:
            self._steps = steps + self._steps
            raise

    # --- brackets -----------------------------------------------------------------------------

    def save_bracket(self, bracket: Bracket, at: datetime) -> None:
        """Kept until the next write, read or `flush` (the latest save of a bracket wins)."""
        self._saves[bracket.id] = (bracket, at)

    def _write_brackets(
        self,
        conn: Connection,
        saves: Collection[tuple[Bracket, datetime]],
        rows: list[dict[str, Any]],
        order_rows: list[dict[str, Any]],
    ) -> None:
        before = [row for b, _ in saves for row in self._held_before.rows(conn, {"id": b.id})]
        self._upsert_bracket.executemany(conn, rows)
        if order_rows:
            self._upsert_orders.executemany(conn, order_rows)
        self._move_holdings(conn, _holding_changes(before, [bracket for bracket, _ in saves]))

    def _move_holdings(self, conn: Connection, changes: dict[HoldingKey, HeldSums]) -> None:
        """Add the changes to the holdings rows (a row goes when its last bracket closes).

        Read, added in exact Decimals and written back in the bracket's transaction: the rows
        of one account and symbol change only under that key's lock, like its brackets."""
        for key, change in changes.items():
            where = dict(zip(_HOLDING_KEY, key, strict=True))
            found = self._holding.rows(conn, where)
            now = change.plus(HeldSums(*found[0])) if found else change
            if now.brackets > 0:
                self._upsert_holding.execute(conn, {**where, **now.row()})
                continue
            if now.brackets < 0 or now.position:
                log.error("holdings of %s out of step with the brackets: %s", key, now)
            self._drop_holding.execute(conn, where)

    def bracket(self, bracket_id: str) -> Bracket | None:
        with self._reading() as conn:
            data = conn.execute(self._bracket, {"id": bracket_id}).scalar()
        return None if data is None else msgspec.convert(data, Bracket)

    def open_bracket_versions(self) -> dict[str, object]:
        query = select(brackets.c.id, brackets.c.updated_at).where(brackets.c.state.notin_(_FINAL))
        with self._reading() as conn:
            return dict(conn.execute(query).all())

    def brackets_by_id(self, bracket_ids: Sequence[str]) -> list[Bracket]:
        if not bracket_ids:
            return []
        query = select(brackets.c.data).where(brackets.c.id.in_(list(bracket_ids)))
        with self._reading() as conn:
            rows = conn.execute(query.order_by(brackets.c.id)).scalars().all()
        return [msgspec.convert(data, Bracket) for data in rows]

    def open_brackets(self, account: str | None = None, symbol: str | None = None) -> list[Bracket]:
        query = select(brackets.c.data).where(brackets.c.state.notin_(_FINAL))
        if account is not None:
            query = query.where(brackets.c.account == account)
        if symbol is not None:
            query = query.where(brackets.c.symbol == symbol)
        with self._reading() as conn:
            rows = conn.execute(query.order_by(brackets.c.id)).scalars().all()
        return [msgspec.convert(data, Bracket) for data in rows]

    def account_state(self, account: str, symbol: str, now: datetime) -> AccountState:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        since, yesterday = now - timedelta(minutes=1), day - timedelta(days=1)
        values = {"account": account, "symbol": symbol, "day": day, "since": since,
                  "yesterday": yesterday}  # fmt: skip
        with self._reading() as conn:
            held = self._holdings.rows(conn, {"account": account})
            ((realized, recent, filled, partly, trading),) = self._activity.rows(conn, values)
        stopped = max((at for at in (filled, partly) if at is not None), default=None)
        return AccountState(
            holdings=[Holding.summed(*row) for row in held],
            activity=Activity(
                realized_pnl_today=_exact(realized),
                orders_last_minute=int(recent or 0),
                last_stop_loss_at={} if stopped is None else {symbol: _utc(stopped)},
            ),
            trading_state=TradingState(trading) if trading else TradingState.ACTIVE,
        )

    # --- controls -----------------------------------------------------------------------------

    def trading_state(self) -> TradingState:
        with self._reading() as conn:
            return self._read_trading_state(conn)

    def _read_trading_state(self, conn: Connection) -> TradingState:
        value = conn.execute(self._trading).scalar()
        return TradingState(value) if value else TradingState.ACTIVE

    def set_trading_state(self, state: TradingState, at: datetime, reason: str) -> None:
        values = {"value": state.value, "reason": _short(reason, 500), "updated_at": at}
        stmt = (
            self._insert(controls)
            .values(name=_TRADING, **values)
            .on_conflict_do_update(index_elements=["name"], set_=values)
        )
        with self._writing() as conn:
            conn.execute(stmt)

    # --- reading orders -----------------------------------------------------------------------

    def orders(self, query: OrderQuery) -> list[OrderView]:
        stmt = select(orders).order_by(orders.c.id.desc()).limit(query.limit)
        for column, value in (
            (orders.c.bracket_id, query.signal_id),
            (orders.c.account, query.account),
            (orders.c.symbol, query.symbol),
            (orders.c.venue, query.venue),
            (orders.c.state, query.state),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if query.open_only:
            done = ["filled", "cancelled", "rejected", "expired"]
            stmt = stmt.where(orders.c.state.notin_(done))
        if query.before is not None:
            stmt = stmt.where(orders.c.id < query.before)
        with self._reading() as conn:
            rows = conn.execute(stmt).all()
        return [
            OrderView(
                id=r.id,
                signal_id=r.bracket_id,
                account=r.account,
                venue=r.venue,
                symbol=r.symbol,
                leg=r.leg,
                client_order_id=r.client_order_id,
                order_id=r.order_id,
                side=r.side,
                kind=r.kind,
                state=r.state,
                amount=r.amount,
                filled=r.filled,
                average_price=r.average_price,
                price=r.price,
                trigger_price=r.trigger_price,
                fee=r.fee,
                fee_currency=r.fee_currency,
                reduce_only=r.reduce_only,
                created_at=_utc(r.created_at),
                updated_at=_utc(r.updated_at),
            )
            for r in rows
        ]


def _bracket_rows(
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
            "realized_pnl": bracket.realized_pnl,
            "position": bracket.position,
            "entry_price": bracket.entry_price,
            "data": msgspec.to_builtins(bracket),
        })  # fmt: skip
        order_rows.extend(_order_row(bracket, order, at) for order in bracket.orders)
    return rows, order_rows


def _upsert(insert: Any, keys: list[str], keep: set[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every column but `keep` from the new row."""
    changes = {c.name: insert.excluded[c.name] for c in insert.table.columns if c.name not in keep}
    return insert.on_conflict_do_update(index_elements=keys, set_=changes)


def _pending(
    signal_id: str, received_at: datetime, status: str, signal: Any, started: object
) -> PendingSignal:
    return PendingSignal(
        id=signal_id,
        received_at=_utc(received_at),
        status=SignalStatus(status),
        signal=msgspec.convert(signal, Signal),
        started=bool(started),
    )


def _any_of(column: Any, values: Sequence[str]) -> Any:
    """`column IN (values)` with one bound value each (a prepared statement holds no IN list)."""
    return or_(*(column == value for value in values))


def _short(text: str | None, limit: int = 2000) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


HoldingKey = tuple[str, str, str, str]  # account, venue, symbol, side
_HOLDING_KEY = ("account", "venue", "symbol", "side")
_CONTRIBUTION = (brackets.c.id, *(brackets.c[name] for name in _HOLDING_KEY), brackets.c.state,
                 brackets.c.position, brackets.c.entry_price)  # fmt: skip


@dataclass(frozen=True, slots=True)
class HeldSums:
    """A holdings row's sums, or a change to them."""

    position: Decimal
    cost: Decimal  # position x entry price
    brackets: int

    def plus(self, other: HeldSums) -> HeldSums:
        return HeldSums(self.position + other.position, self.cost + other.cost,
                        self.brackets + other.brackets)  # fmt: skip

    def negated(self) -> HeldSums:
        return HeldSums(-self.position, -self.cost, -self.brackets)

    @property
    def nothing(self) -> bool:
        return not (self.position or self.cost or self.brackets)

    def row(self) -> dict[str, Any]:
        return {"position": self.position, "cost": self.cost, "brackets": self.brackets}


def _held(state: str, position: Decimal, entry_price: Decimal | None) -> HeldSums | None:
    """What one bracket adds to its holdings row: nothing once it is closed or failed."""
    if state in _FINAL:
        return None
    return HeldSums(position, position * entry_price if entry_price is not None else _ZERO, 1)


def _holding_changes(before: Iterable[Any], after: Iterable[Bracket]) -> dict[HoldingKey, HeldSums]:
    """The changes to the holdings rows when the brackets `after` replace their rows `before`
    (`_CONTRIBUTION` columns; a bracket saved for the first time has none)."""
    changes: dict[HoldingKey, HeldSums] = {}

    def add(key: HoldingKey, sums: HeldSums | None) -> None:
        if sums is not None:
            changes[key] = changes[key].plus(sums) if key in changes else sums

    for _, account, venue, symbol, side, state, position, entry_price in before:
        if (was := _held(state, position, entry_price)) is not None:
            add((account, venue, symbol, side), was.negated())
    for b in after:
        key = (b.account, b.venue, b.symbol, b.side.value)
        add(key, _held(b.state.value, b.position, b.entry_price))
    return {key: sums for key, sums in changes.items() if not sums.nothing}


_SUMS = Context(prec=15)


def _exact(value: Decimal | float | str) -> Decimal:
    """A sum as the database returned it: PostgreSQL's exact Decimal, or SQLite's double rounded
    to 15 significant digits (0.1 + 0.2 comes back as 0.3; ample for the day's P&L limit)."""
    if isinstance(value, float):
        return _SUMS.create_decimal(repr(value))
    return Decimal(value)
