"""`AccountStore` in SQL: accounts, subscriptions, and each account's trading state as a row of
`controls` next to the global kill switch's; `AccountChannelStore` too: each account's own
notification URLs, sealed (this store never opens them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.adapters.sql.activity import TRADING
from app.adapters.sql.db import as_utc, dialect_insert, transaction
from app.adapters.sql.execution_rows import short
from app.adapters.sql.tables import signals
from app.adapters.sql.tables_accounts import accounts, subscriptions
from app.adapters.sql.tables_execution import brackets, controls
from app.domain.account_channels import AccountChannels
from app.domain.accounts import Account, AccountLimits, AccountSizing, Subscription
from app.domain.brackets.bracket import FINAL
from app.domain.risk_values import TradingState
from app.domain.signals import PENDING
from app.ports.accounts import AccountInUse, AccountTaken

_SHOWN = [c for c in accounts.c if c.name != "notify_sealed"]  # a listing never reads the URLs


def state_control(account: str) -> str:
    """The `controls` row of an account's trading state."""
    return f"{TRADING}:{account}"


class SqlAccountStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    def accounts(self) -> list[Account]:
        return self._read()

    def account(self, name: str) -> Account | None:
        found = self._read(name)
        return found[0] if found else None

    def _read(self, name: str | None = None) -> list[Account]:
        query = select(*_SHOWN).order_by(accounts.c.name)
        if name is not None:
            query = query.where(accounts.c.name == name)
        states = select(controls.c.name, controls.c.value, controls.c.reason).where(
            controls.c.name.like(f"{TRADING}:%")
        )
        with transaction(self._engine) as conn:
            rows = conn.execute(query).mappings().all()
            held = {n: (v, r) for n, v, r in conn.execute(states)} if rows else {}
        return [_account(row, held.get(state_control(row["name"]))) for row in rows]

    def add_account(self, account: Account, at: datetime) -> Account:
        values = {**_values(account), "name": account.name, "created_at": at, "updated_at": at}
        try:
            with transaction(self._engine, write=True) as conn:
                conn.execute(insert(accounts).values(values))
        except IntegrityError:
            raise AccountTaken(account.name) from None
        added = self.account(account.name)
        assert added is not None
        return added

    def change_account(self, account: Account, at: datetime) -> Account | None:
        query = (
            update(accounts)
            .where(accounts.c.name == account.name)
            .values(**_values(account), updated_at=at)
        )
        with transaction(self._engine, write=True) as conn:
            if not conn.execute(query).rowcount:
                return None
        return self.account(account.name)

    def remove_account(self, name: str) -> bool:
        pending = select(func.count()).where(
            signals.c.account == name, signals.c.status.in_([s.value for s in PENDING])
        )
        held = select(func.count()).where(
            brackets.c.account == name, brackets.c.state.not_in([s.value for s in FINAL])
        )
        with transaction(self._engine, write=True) as conn:  # subscriptions: ON DELETE CASCADE
            waiting, open_brackets = (
                conn.execute(pending).scalar_one(),
                conn.execute(held).scalar_one(),
            )
            if waiting or open_brackets:
                raise AccountInUse(waiting, open_brackets)
            conn.execute(delete(controls).where(controls.c.name == state_control(name)))
            return bool(conn.execute(delete(accounts).where(accounts.c.name == name)).rowcount)

    def set_account_state(self, name: str, state: TradingState, at: datetime, reason: str) -> None:
        values = {"value": state.value, "reason": short(reason, 500), "updated_at": at}
        stmt = (
            self._insert(controls)
            .values(name=state_control(name), **values)
            .on_conflict_do_update(index_elements=["name"], set_=values)
        )
        with transaction(self._engine, write=True) as conn:
            conn.execute(stmt)

    # --- its own notification channels (`AccountChannelStore`) -----------------------------------

    def set_channels(
        self, name: str, sealed: str | None, shown: AccountChannels | None, at: datetime
    ) -> bool:
        values = {"notify_sealed": sealed, "notify": _shown(shown), "updated_at": at}
        query = update(accounts).where(accounts.c.name == name).values(values)
        with transaction(self._engine, write=True) as conn:
            return bool(conn.execute(query).rowcount)

    def set_channel_events(self, name: str, shown: AccountChannels, at: datetime) -> bool:
        query = (
            update(accounts)
            .where(accounts.c.name == name, accounts.c.notify_sealed.is_not(None))
            .values(notify=_shown(shown), updated_at=at)
        )
        with transaction(self._engine, write=True) as conn:
            return bool(conn.execute(query).rowcount)

    def sealed_channels(self, name: str) -> str | None:
        query = select(accounts.c.notify_sealed).where(accounts.c.name == name)
        with transaction(self._engine) as conn:
            token: str | None = conn.execute(query).scalar()
            return token

    def channels_shown(self) -> Mapping[str, AccountChannels]:
        query = select(accounts.c.name, accounts.c.notify).where(
            accounts.c.notify_sealed.is_not(None)
        )
        with transaction(self._engine) as conn:
            rows = conn.execute(query).all()
        return {str(name): channels for name, raw in rows if (channels := _channels(raw))}

    def every_sealed_channels(self) -> Sequence[tuple[str, str]]:
        query = (
            select(accounts.c.name, accounts.c.notify_sealed)
            .where(accounts.c.notify_sealed.is_not(None))
            .order_by(accounts.c.name)
        )
        with transaction(self._engine) as conn:
            return [(str(name), str(token)) for name, token in conn.execute(query)]

    def reseal_channels(self, name: str, old: str, new: str) -> bool:
        query = (
            update(accounts)
            .where(accounts.c.name == name, accounts.c.notify_sealed == old)
            .values(notify_sealed=new)
        )
        with transaction(self._engine, write=True) as conn:
            return bool(conn.execute(query).rowcount)

    # --- subscriptions --------------------------------------------------------------------------

    def subscriptions(self) -> list[Subscription]:
        query = select(subscriptions).order_by(subscriptions.c.strategy, subscriptions.c.account)
        with transaction(self._engine) as conn:
            rows = conn.execute(query).mappings().all()
        return [_subscription(row) for row in rows]

    def subscribe(self, subscription: Subscription, at: datetime) -> Subscription:
        values = {"strategy": subscription.strategy, "account": subscription.account,
                  "enabled": subscription.enabled, "created_at": at}  # fmt: skip
        stmt = (
            self._insert(subscriptions)
            .values(values)
            .on_conflict_do_update(
                index_elements=["strategy", "account"], set_={"enabled": subscription.enabled}
            )
        )
        with transaction(self._engine, write=True) as conn:
            conn.execute(stmt)
            row = (
                conn.execute(
                    select(subscriptions).where(
                        subscriptions.c.strategy == subscription.strategy,
                        subscriptions.c.account == subscription.account,
                    )
                )
                .mappings()
                .one()
            )
        return _subscription(row)

    def unsubscribe(self, strategy: str, account: str) -> bool:
        query = delete(subscriptions).where(
            subscriptions.c.strategy == strategy, subscriptions.c.account == account
        )
        with transaction(self._engine, write=True) as conn:
            return bool(conn.execute(query).rowcount)


def _values(account: Account) -> dict[str, Any]:
    return {
        "connections": list(account.connections),
        "limits": msgspec.to_builtins(account.limits),
        "sizing": msgspec.to_builtins(account.sizing),
    }


def _account(row: Any, state: tuple[str, str | None] | None) -> Account:
    return Account(
        name=row["name"],
        connections=tuple(row["connections"]),
        limits=msgspec.convert(row["limits"], AccountLimits, strict=False),
        sizing=msgspec.convert(row["sizing"], AccountSizing, strict=False),
        trading_state=TradingState(state[0]) if state else TradingState.ACTIVE,
        state_reason=state[1] if state else None,
        notify=_channels(row["notify"]),
        created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
    )


def _shown(channels: AccountChannels | None) -> dict[str, Any] | None:
    return None if channels is None else msgspec.to_builtins(channels)


def _channels(raw: Any) -> AccountChannels | None:
    return None if raw is None else msgspec.convert(raw, AccountChannels)


def _subscription(row: Any) -> Subscription:
    return Subscription(
        strategy=row["strategy"],
        account=row["account"],
        enabled=row["enabled"],
        created_at=as_utc(row["created_at"]),
    )
