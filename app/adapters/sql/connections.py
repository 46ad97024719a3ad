"""`ConnectionStore` in SQL: connections with their sealed keys, which this store never opens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection as SqlConnection
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.adapters.sql.db import as_utc, transaction
from app.adapters.sql.execution_rows import short
from app.adapters.sql.tables_connections import connection_balances, connections
from app.domain.connections import MAX_LOG_LINES, Connection, ConnectionTest, plain
from app.ports.connections import ConnectionChanges, ConnectionRecord, NameTaken, SealedKeys

_SHOWN = [c for c in connections.c if c.name != "keys_sealed"]  # a listing never reads the keys


class SqlConnectionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def all(self) -> list[Connection]:
        with transaction(self._engine) as conn:
            rows = conn.execute(select(*_SHOWN).order_by(connections.c.id)).mappings().all()
            return [_connection(row, _balances(conn, row["id"])) for row in rows]

    def get(self, ref: int | str) -> Connection | None:
        column = connections.c.id if isinstance(ref, int) else connections.c.name
        with transaction(self._engine) as conn:
            row = conn.execute(select(*_SHOWN).where(column == ref)).mappings().first()
            return None if row is None else _connection(row, _balances(conn, row["id"]))

    def add(self, row: ConnectionRecord, at: datetime) -> Connection:
        values = {
            "name": row.name,
            "venue": row.venue,
            "mode": row.mode,
            "enabled": row.enabled,
            "api_url": row.api_url,
            **_keys(row.keys),
            "created_at": at,
            "updated_at": at,
        }
        try:
            with transaction(self._engine, write=True) as conn:
                new_id = conn.execute(insert(connections).values(values)).inserted_primary_key
        except IntegrityError:
            raise NameTaken(row.name) from None
        assert new_id is not None
        added = self.get(int(new_id[0]))
        assert added is not None
        return added

    def change(self, connection_id: int, changes: ConnectionChanges, at: datetime) -> Connection:
        values: dict[str, Any] = {"updated_at": at}
        if changes.name is not None:
            values["name"] = changes.name
        if changes.enabled is not None:
            values["enabled"] = changes.enabled
        if changes.api_url is not None or changes.clear_api_url:
            values["api_url"] = changes.api_url
        if changes.keys is not None:
            values |= _keys(changes.keys) | _NO_TEST
        query = update(connections).where(connections.c.id == connection_id).values(values)
        try:
            with transaction(self._engine, write=True) as conn:
                found = conn.execute(query).rowcount
                if changes.keys is not None:
                    conn.execute(_forget_balances(connection_id))
        except IntegrityError:
            raise NameTaken(changes.name or "") from None
        changed = self.get(connection_id) if found else None
        if changed is None:
            raise LookupError(connection_id)
        return changed

    def remove(self, connection_id: int) -> bool:
        query = delete(connections).where(connections.c.id == connection_id)
        with transaction(self._engine, write=True) as conn:  # its balances go by ON DELETE CASCADE
            return bool(conn.execute(query).rowcount)

    def save_test(self, connection_id: int, test: ConnectionTest) -> Connection | None:
        values = {
            "test_status": test.status,
            "test_reason": short(test.reason, 1000),
            "tested_at": test.tested_at,
            "test_log": [short(line, 500) for line in test.log[:MAX_LOG_LINES]],
        }
        balances = [
            {"connection_id": connection_id, "asset": asset[:40], "total": total}
            for asset, total in test.balance.items()
        ]
        query = update(connections).where(connections.c.id == connection_id).values(values)
        with transaction(self._engine, write=True) as conn:
            if not conn.execute(query).rowcount:
                return None
            conn.execute(_forget_balances(connection_id))
            if balances:
                conn.execute(insert(connection_balances), balances)
        return self.get(connection_id)

    def sealed_keys(self, connection_id: int) -> str | None:
        query = select(connections.c.keys_sealed).where(connections.c.id == connection_id)
        with transaction(self._engine) as conn:
            token: str | None = conn.execute(query).scalar()
            return token

    def every_sealed(self) -> Sequence[tuple[int, str, str]]:
        query = (
            select(connections.c.id, connections.c.name, connections.c.keys_sealed)
            .where(connections.c.keys_sealed.is_not(None))
            .order_by(connections.c.id)
        )
        with transaction(self._engine) as conn:
            return [(int(i), str(name), str(token)) for i, name, token in conn.execute(query)]

    def reseal(self, connection_id: int, old: str, new: str) -> bool:
        query = (
            update(connections)
            .where(connections.c.id == connection_id, connections.c.keys_sealed == old)
            .values(keys_sealed=new)
        )
        with transaction(self._engine, write=True) as conn:
            return bool(conn.execute(query).rowcount)


_NO_TEST = {"test_status": None, "test_reason": None, "tested_at": None, "test_log": None}


def _keys(keys: SealedKeys) -> dict[str, Any]:
    return {
        "keys_sealed": keys.token,
        "key_fields": ",".join(keys.key_fields),
        "api_key_hint": keys.api_key_hint,
    }


def _forget_balances(connection_id: int) -> Any:
    return delete(connection_balances).where(connection_balances.c.connection_id == connection_id)


def _balances(conn: SqlConnection, connection_id: int) -> dict[str, Any]:
    query = (
        select(connection_balances.c.asset, connection_balances.c.total)
        .where(connection_balances.c.connection_id == connection_id)
        .order_by(connection_balances.c.asset)
    )
    return {str(asset): plain(total) for asset, total in conn.execute(query)}


def _connection(row: Any, balance: dict[str, Any]) -> Connection:
    test = None
    if row["test_status"] is not None:
        test = ConnectionTest(
            status=row["test_status"],
            reason=row["test_reason"] or "",
            tested_at=as_utc(row["tested_at"]),
            balance=balance,
            log=list(row["test_log"] or []),
        )
    return Connection(
        id=row["id"],
        name=row["name"],
        venue=row["venue"],
        mode=row["mode"],
        source="stored",
        enabled=row["enabled"],
        key_fields=[f for f in row["key_fields"].split(",") if f],
        api_key_hint=row["api_key_hint"],
        api_url=row["api_url"],
        last_test=test,
        created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
    )
