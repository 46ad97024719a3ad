"""SQL tables of accounts and subscriptions. An account's trading state is a row of `controls`
(`trading_state:<account>`), next to the global one, so that the risk gate reads both at once.
An account's own notification URLs are kept sealed, like a connection's keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel


def _utc() -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class AccountRow(SQLModel, table=True):
    __tablename__ = "accounts"

    name: str = Field(sa_column=Column(String(31), primary_key=True))
    connections: list[str] = Field(sa_column=Column(JSON, nullable=False))  # venue names
    limits: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # numbers as text
    sizing: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # its own notification channels: the URLs as one Fernet token (never in clear), and what is
    # shown of them (services, masked URLs, the event selection); both null: none
    notify_sealed: str | None = Field(default=None, sa_column=Column(Text))
    notify: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class SubscriptionRow(SQLModel, table=True):
    """A strategy's alerts trade the account while enabled."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("strategy", "account", name="uq_subscriptions"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    strategy: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    account: str = Field(
        sa_column=Column(
            String(31), ForeignKey("accounts.name", ondelete="CASCADE"), nullable=False
        )
    )
    enabled: bool = Field(sa_column=Column(Boolean, nullable=False))
    created_at: datetime = _utc()


accounts = AccountRow.__table__  # type: ignore[attr-defined]
subscriptions = SubscriptionRow.__table__  # type: ignore[attr-defined]
