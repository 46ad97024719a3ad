"""SQL tables of execution: brackets, their orders, and the trading controls."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from app.adapters.sql.tables import EXACT_MONEY as MONEY


def _utc(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), index=index, nullable=nullable))


def _text(length: int, *, index: bool = False, nullable: bool = False) -> Any:
    return Field(sa_column=Column(String(length), index=index, nullable=nullable))


class BracketRow(SQLModel, table=True):
    """One signal's bracket. `data` is the whole `Bracket` value (Decimals as strings); the
    columns are what queries filter on. `version` grows by one with every save, and a save
    is written only over the version its holder read; `fence` is the fencing token of the lock
    holder that saved it last (none when saved outside a lock): an older one cannot save it."""

    __tablename__ = "brackets"
    __table_args__ = (
        Index("ix_brackets_account_symbol_state", "account", "symbol", "state"),
        Index("ix_brackets_account_closed_at", "account", "closed_at"),
    )

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    account: str = _text(100)
    venue: str = _text(100)
    symbol: str = _text(60)
    side: str = _text(4)
    state: str = _text(16, index=True)
    opened_at: datetime = _utc()
    closed_at: datetime | None = _utc(nullable=True, index=True)
    updated_at: datetime = _utc()
    realized_pnl: Decimal = Field(sa_column=Column(MONEY, nullable=False))
    position: Decimal = Field(sa_column=Column(MONEY, nullable=False))  # held now, base units
    entry_price: Decimal | None = Field(default=None, sa_column=Column(MONEY))
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False, server_default="1"))
    fence: int | None = Field(default=None, sa_column=Column(BigInteger))


class HoldingRow(SQLModel, table=True):
    """What the open brackets of one account, venue, symbol and side hold, kept up to date in the
    transaction that saves a bracket (`SqlExecutionStore`): the risk gate reads a few rows here
    instead of summing every open bracket per signal. No row while no bracket is open."""

    __tablename__ = "holdings"

    account: str = Field(sa_column=Column(String(100), primary_key=True))
    venue: str = Field(sa_column=Column(String(100), primary_key=True))
    symbol: str = Field(sa_column=Column(String(60), primary_key=True))
    side: str = Field(sa_column=Column(String(4), primary_key=True))
    position: Decimal = Field(sa_column=Column(MONEY, nullable=False))  # sum of positions
    cost: Decimal = Field(sa_column=Column(MONEY, nullable=False))  # sum of position x entry price
    brackets: int = Field(sa_column=Column(Integer, nullable=False))  # open brackets


class OrderRow(SQLModel, table=True):
    """Every order signalgate placed; a client order id is unique per venue."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("venue", "client_order_id", name="uq_orders_venue_client_order_id"),
        Index("ix_orders_account_created_at", "account", "created_at"),
        # the symbol's last stop-loss fill: one index lookup per state
        Index("ix_orders_last_stop", "account", "symbol", "leg", "state", "updated_at"),
        # the account's open entry orders (resting entries count toward its limits)
        Index("ix_orders_open_entries", "account", "leg", "state"),
        # orders by state (in doubt: unknown), of an account and symbol: a few index entries
        # (by account and symbol first, every order of the symbol would be looked at)
        Index("ix_orders_state_account_symbol", "state", "account", "symbol"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    bracket_id: str = _text(26, index=True)
    account: str = _text(100)
    venue: str = _text(100)
    symbol: str = _text(60, index=True)
    leg: str = _text(8)
    revision: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    client_order_id: str = _text(64)
    order_id: str | None = _text(100, nullable=True)
    side: str = _text(4)
    kind: str = _text(24)
    state: str = _text(24)
    amount: Decimal = Field(sa_column=Column(MONEY, nullable=False))
    filled: Decimal = Field(sa_column=Column(MONEY, nullable=False))
    average_price: Decimal | None = Field(default=None, sa_column=Column(MONEY))
    price: Decimal | None = Field(default=None, sa_column=Column(MONEY))
    trigger_price: Decimal | None = Field(default=None, sa_column=Column(MONEY))
    fee: Decimal = Field(sa_column=Column(MONEY, nullable=False))
    fee_currency: str | None = _text(16, nullable=True)
    reduce_only: bool = Field(sa_column=Column(Boolean, nullable=False))
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class PnlChangeRow(SQLModel, table=True):
    """A change of one bracket's realized P&L (a partial take-profit as it fills, a stop-loss, a
    close), in its quote currency, when it was saved: the day's sum is what MAX_DAILY_LOSS
    reads, whenever the bracket closes."""

    __tablename__ = "pnl_changes"
    __table_args__ = (Index("ix_pnl_changes_account_at", "account", "at"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    account: str = _text(100)
    bracket_id: str = _text(26)
    currency: str = _text(16)
    at: datetime = _utc()
    amount: Decimal = Field(sa_column=Column(MONEY, nullable=False))


class PnlDayRow(SQLModel, table=True):
    """Each account's realized P&L of a day (UTC) in one currency: the sum of that day's
    `pnl_changes`, added to in the transaction that writes them, so that the risk gate's
    MAX_DAILY_LOSS reads one row per currency however many fills the day has seen."""

    __tablename__ = "pnl_days"

    account: str = Field(sa_column=Column(String(100), primary_key=True))
    day: date = Field(sa_column=Column(Date, primary_key=True))
    currency: str = Field(sa_column=Column(String(16), primary_key=True))
    amount: Decimal = Field(sa_column=Column(MONEY, nullable=False))


class OrderCountRow(SQLModel, table=True):
    """How many orders of an account that count toward MAX_ORDERS_PER_MINUTE (replacements of
    a stop-loss left out) were created in each second (Unix time), the last two minutes of them:
    kept by a trigger on `orders` (migration 0020), so that the risk gate sums at most sixty rows
    instead of counting every order of the last minute."""

    __tablename__ = "order_counts"

    account: str = Field(sa_column=Column(String(100), primary_key=True))
    second: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    n: int = Field(sa_column=Column(Integer, nullable=False))


class ControlRow(SQLModel, table=True):
    """Switches an operator flips: the trading state (the kill switch)."""

    __tablename__ = "controls"

    name: str = Field(sa_column=Column(String(60), primary_key=True))
    value: str = _text(60)
    reason: str | None = _text(500, nullable=True)
    updated_at: datetime = _utc()


brackets = BracketRow.__table__  # type: ignore[attr-defined]
holdings = HoldingRow.__table__  # type: ignore[attr-defined]
orders = OrderRow.__table__  # type: ignore[attr-defined]
controls = ControlRow.__table__  # type: ignore[attr-defined]
pnl_changes = PnlChangeRow.__table__  # type: ignore[attr-defined]
pnl_days = PnlDayRow.__table__  # type: ignore[attr-defined]
order_counts = OrderCountRow.__table__  # type: ignore[attr-defined]
