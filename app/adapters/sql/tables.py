"""SQL tables (SQLModel). Money and quantities are Numeric, never float."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine
from sqlmodel import Field, SQLModel

MONEY = Numeric(38, 18)


def _utc_column(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), index=index, nullable=nullable))


class SignalRow(SQLModel, table=True):
    __tablename__ = "signals"
    __table_args__ = (
        Index("ix_signals_dedupe_key_received_at", "dedupe_key", "received_at"),
        Index("ix_signals_account_id", "account", "id"),  # GET /signals?account=, newest first
    )

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    received_at: datetime = _utc_column(index=True)
    updated_at: datetime = _utc_column()
    status: str = Field(sa_column=Column(String(24), index=True, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(500)))
    duplicate_of: str | None = Field(default=None, sa_column=Column(String(26)))
    source: str = Field(sa_column=Column(String(80), nullable=False))
    dialect: str = Field(sa_column=Column(String(24), nullable=False))
    strategy: str | None = Field(default=None, sa_column=Column(String(100), index=True))
    account: str = Field(sa_column=Column(String(100), nullable=False))
    symbol: str = Field(sa_column=Column(String(60), index=True, nullable=False))
    action: str = Field(sa_column=Column(String(16), nullable=False))
    quantity: Decimal | None = Field(default=None, sa_column=Column(MONEY))
    price: Decimal | None = Field(default=None, sa_column=Column(MONEY))
    confidence: float | None = None
    alert_id: str | None = Field(default=None, sa_column=Column(String(200)))
    unit_id: str | None = Field(default=None, sa_column=Column(String(40), index=True))
    fired_at: datetime | None = _utc_column(nullable=True)
    dedupe_key: str = Field(sa_column=Column(String(300), nullable=False))
    client: str | None = Field(default=None, sa_column=Column(String(64)))
    signal: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    payload: Any = Field(default=None, sa_column=Column(JSON))


class SignalEventRow(SQLModel, table=True):
    """The status history of a signal, and each execution step (its lineage)."""

    __tablename__ = "signal_events"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    signal_id: str = Field(
        sa_column=Column(String(26), ForeignKey("signals.id"), index=True, nullable=False)
    )
    at: datetime = _utc_column()
    status: str = Field(sa_column=Column(String(24), nullable=False))
    detail: str | None = Field(default=None, sa_column=Column(String(2000)))
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # a step's facts


metadata = SQLModel.metadata
signals = SignalRow.__table__  # type: ignore[attr-defined]
events = SignalEventRow.__table__  # type: ignore[attr-defined]


# --- paper venues ------------------------------------------------------------------------------


class ExactMoney(TypeDecorator[Decimal]):
    """`MONEY` on PostgreSQL; on SQLite, whose NUMERIC goes through float (10000.123456789012345678
    comes back as 10000.123456789011470391), the Decimal's exact text."""

    impl = MONEY
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(MONEY)

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


EXACT_MONEY = ExactMoney()
FILL_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite numbers INTEGER keys only


def _money(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(EXACT_MONEY, nullable=nullable))


class PaperVenueRow(SQLModel, table=True):
    """A paper venue: its markets (JSON, as `Market` structs with Decimals as strings) and the
    number of its next order. Its orders, balances and fills have their own rows."""

    __tablename__ = "paper_venues"

    name: str = Field(sa_column=Column(String(100), primary_key=True))
    markets: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    next_order_number: int = Field(sa_column=Column(Integer, nullable=False))
    updated_at: datetime = _utc_column()


class PaperOrderRow(SQLModel, table=True):
    """One order of a paper venue, written when it changes (`SqlPaperStore.save_changes`)."""

    __tablename__ = "paper_orders"
    __table_args__ = (
        UniqueConstraint("venue", "client_order_id", name="uq_paper_orders_venue_client_order_id"),
        Index("ix_paper_orders_venue_state", "venue", "state"),
        Index("ix_paper_orders_venue_updated_at", "venue", "updated_at"),
    )

    venue: str = Field(sa_column=Column(String(100), primary_key=True))
    order_id: str = Field(sa_column=Column(String(40), primary_key=True))
    client_order_id: str = Field(sa_column=Column(String(64), nullable=False))
    symbol: str = Field(sa_column=Column(String(60), nullable=False))
    side: str = Field(sa_column=Column(String(8), nullable=False))
    kind: str = Field(sa_column=Column(String(24), nullable=False))
    amount: Decimal = _money()
    price: Decimal | None = _money(nullable=True)
    trigger_price: Decimal | None = _money(nullable=True)
    state: str = Field(sa_column=Column(String(24), nullable=False))
    filled: Decimal = _money()
    cost: Decimal = _money()
    fee: Decimal = _money()
    reserved: Decimal = _money()
    created_at: datetime = _utc_column()
    updated_at: datetime = _utc_column()


class PaperBalanceRow(SQLModel, table=True):
    __tablename__ = "paper_balances"

    venue: str = Field(sa_column=Column(String(100), primary_key=True))
    asset: str = Field(sa_column=Column(String(40), primary_key=True))
    free: Decimal = _money()
    reserved: Decimal = _money()


class PaperFillRow(SQLModel, table=True):
    """One fill of a paper venue; append-only."""

    __tablename__ = "paper_fills"
    __table_args__ = (Index("ix_paper_fills_venue_at", "venue", "at"),)

    # 64 bits: at a thousand fills a second, 32 would run out within a month
    id: int | None = Field(default=None, sa_column=Column(FILL_ID, primary_key=True))
    venue: str = Field(sa_column=Column(String(100), nullable=False))
    order_id: str = Field(sa_column=Column(String(40), nullable=False))
    client_order_id: str = Field(sa_column=Column(String(64), nullable=False))
    symbol: str = Field(sa_column=Column(String(60), nullable=False))
    side: str = Field(sa_column=Column(String(8), nullable=False))
    price: Decimal = _money()
    amount: Decimal = _money()
    fee: Decimal = _money()
    fee_currency: str = Field(sa_column=Column(String(40), nullable=False))
    at: datetime = _utc_column()
    maker: bool = Field(sa_column=Column(Boolean, nullable=False))


# --- recorded market data (MARKET_DATA_RECORD=db) ----------------------------------------------


class MarketTickRow(SQLModel, table=True):
    """A tick the feed produced; append-only, read back by `signalgate market-data export`."""

    __tablename__ = "market_ticks"
    __table_args__ = (Index("ix_market_ticks_symbol_at", "symbol", "at"),)

    id: int | None = Field(default=None, sa_column=Column(FILL_ID, primary_key=True))
    symbol: str = Field(sa_column=Column(String(60), nullable=False))
    at: datetime = _utc_column(index=True)
    price: Decimal = _money()
    volume: Decimal = _money()
