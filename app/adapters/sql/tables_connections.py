"""SQL tables of connections: each venue account with its keys sealed (a Fernet token, never the
keys in clear) and its last test, whose balance has rows of its own (money is Numeric)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Integer, String, Text
from sqlmodel import Field, SQLModel

from app.adapters.sql.tables import EXACT_MONEY


def _utc(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=nullable))


class ConnectionRow(SQLModel, table=True):
    __tablename__ = "connections"
    # an id is never given again after a removal (SQLite reuses the highest otherwise): what
    # refers to a connection by id must not find another one
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    name: str = Field(sa_column=Column(String(31), unique=True, nullable=False))
    venue: str = Field(sa_column=Column(String(40), nullable=False))
    mode: str = Field(sa_column=Column(String(16), nullable=False))
    enabled: bool = Field(sa_column=Column(Boolean, nullable=False))
    api_url: str | None = Field(default=None, sa_column=Column(String(300)))
    keys_sealed: str | None = Field(default=None, sa_column=Column(Text))  # Fernet token
    key_fields: str = Field(sa_column=Column(String(60), nullable=False))  # "api_key,api_secret"
    api_key_hint: str | None = Field(default=None, sa_column=Column(String(8)))
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    test_status: str | None = Field(default=None, sa_column=Column(String(8)))
    test_reason: str | None = Field(default=None, sa_column=Column(String(1000)))
    tested_at: datetime | None = _utc(nullable=True)
    test_log: list[str] | None = Field(default=None, sa_column=Column(JSON))


class ConnectionBalanceRow(SQLModel, table=True):
    """An asset the connection's last test found held."""

    __tablename__ = "connection_balances"

    connection_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
        )
    )
    asset: str = Field(sa_column=Column(String(40), primary_key=True))
    total: Decimal = Field(sa_column=Column(EXACT_MONEY, nullable=False))


connections = ConnectionRow.__table__  # type: ignore[attr-defined]
connection_balances = ConnectionBalanceRow.__table__  # type: ignore[attr-defined]
