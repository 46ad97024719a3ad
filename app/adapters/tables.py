"""SQL tables (SQLModel). Money and quantities are Numeric, never float."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, Numeric, String
from sqlmodel import Field, SQLModel

MONEY = Numeric(38, 18)


def _utc_column(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), index=index, nullable=nullable))


class SignalRow(SQLModel, table=True):
    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_dedupe_key_received_at", "dedupe_key", "received_at"),)

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
    fired_at: datetime | None = _utc_column(nullable=True)
    dedupe_key: str = Field(sa_column=Column(String(300), nullable=False))
    client: str | None = Field(default=None, sa_column=Column(String(64)))
    signal: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    payload: Any = Field(default=None, sa_column=Column(JSON))


class SignalEventRow(SQLModel, table=True):
    """The status history of a signal."""

    __tablename__ = "signal_events"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    signal_id: str = Field(
        sa_column=Column(String(26), ForeignKey("signals.id"), index=True, nullable=False)
    )
    at: datetime = _utc_column()
    status: str = Field(sa_column=Column(String(24), nullable=False))
    detail: str | None = Field(default=None, sa_column=Column(String(500)))


class PaperVenueRow(SQLModel, table=True):
    """A paper venue's whole state (`PaperState`) as one JSON document, Decimals as strings.

    JSON rather than normalized tables: the state is only ever read and written whole, by the
    one process running the venue, and never queried; msgspec writes every Decimal as a string,
    so money comes back exactly (no float on the way), and the struct's schema travels with it.
    """

    __tablename__ = "paper_venues"

    name: str = Field(sa_column=Column(String(100), primary_key=True))
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _utc_column()


metadata = SQLModel.metadata
