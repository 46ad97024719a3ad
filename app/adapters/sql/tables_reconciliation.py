"""SQL tables of reconciliation: each venue and symbol as last compared, the baselines (what the
user holds outside signalgate), and each venue's last run. Written by the acting monitor only."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, String
from sqlmodel import Field, SQLModel

from app.adapters.sql.tables import EXACT_MONEY as MONEY


def _utc(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=nullable))


def _money() -> Any:
    return Field(sa_column=Column(MONEY, nullable=False))


class ReconciliationRow(SQLModel, table=True):
    """One venue and symbol: the venue's amount against the book's, and the drift."""

    __tablename__ = "reconciliation"

    venue: str = Field(sa_column=Column(String(100), primary_key=True))
    symbol: str = Field(sa_column=Column(String(60), primary_key=True))
    key: str = Field(sa_column=Column(String(60), nullable=False))  # the asset or swap symbol
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # balance | position
    venue_amount: Decimal = _money()
    book: Decimal = _money()
    baseline: Decimal = _money()
    brackets: Decimal = _money()
    drift: Decimal = _money()  # unexplained now
    policy: str = Field(sa_column=Column(String(16), nullable=False))
    hold: bool = Field(sa_column=Column(Boolean, nullable=False))  # entries held back
    checked_at: datetime = _utc()
    drift_since: datetime | None = _utc(nullable=True)
    incidents: int = Field(sa_column=Column(Integer, nullable=False))
    adjusted: Decimal = _money()  # taken off brackets, in total
    note: str | None = Field(default=None, sa_column=Column(String(1000)))


class BaselineRow(SQLModel, table=True):
    """What the user holds of an asset (or a swap position) outside signalgate's brackets."""

    __tablename__ = "reconciliation_baselines"

    venue: str = Field(sa_column=Column(String(100), primary_key=True))
    key: str = Field(sa_column=Column(String(60), primary_key=True))
    amount: Decimal = _money()
    recorded_at: datetime = _utc()


class ReconciliationRunRow(SQLModel, table=True):
    """Each venue's last reconciliation."""

    __tablename__ = "reconciliation_runs"

    venue: str = Field(sa_column=Column(String(100), primary_key=True))
    checked_at: datetime = _utc()
    error: str | None = Field(default=None, sa_column=Column(String(500)))
    orphans_cancelled: int = Field(sa_column=Column(Integer, nullable=False))


reconciliation = ReconciliationRow.__table__  # type: ignore[attr-defined]
baselines = BaselineRow.__table__  # type: ignore[attr-defined]
reconciliation_runs = ReconciliationRunRow.__table__  # type: ignore[attr-defined]
