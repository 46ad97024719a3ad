"""SQL through SQLAlchemy Core on the SQLModel tables: SQLite by default, PostgreSQL in prod."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.request import pathname2url

import msgspec
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    Table,
    create_engine,
    event,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from app.adapters.sql.flights import pipelined, prepare_engine
from app.adapters.sql.json_rows import json_text
from app.adapters.sql.signal_inserts import SignalInserts
from app.adapters.sql.tables import events, signals
from app.domain.signals import NOT_KEPT, Signal, SignalRecord, SignalStatus
from app.ports.errors import Unavailable
from app.ports.signals import SignalQuery, SignalView, StatusChange

# the fields of a signal's view read from its row's columns of the same names
_VIEW_COLUMNS = [
    name
    for name in SignalView.__struct_fields__
    if name not in ("received_at", "signal", "history", "orders")
]


# SQLite: pages of WAL after which a commit copies them back into the database file itself
# (SQLite's default is 1,000). A long-running process checkpoints in the background long before.
_WAL_BACKSTOP_PAGES = 10_000
# SQLite: how long a statement waits for another process's write lock before it fails.
_BUSY_TIMEOUT_S = 30
# SQLite: how often a write transaction asks again for the write lock held by another process
# in its first 5 ms of waiting (the locks of the hot path are held tenths of a millisecond), and
# after that (a long write elsewhere: fewer tries, less CPU). See `transaction`.
_LOCK_POLL_S, _LOCK_POLL_SLOW_S, _LOCK_FAST_S = 0.0001, 0.002, 0.005


def make_engine(
    url: str, *, background_checkpoints: bool = False, pool_size: int = 5, max_overflow: int = 5
) -> Engine:
    """An engine with sane pool settings; SQLite gets WAL so readers never block the writer.

    `background_checkpoints` (long-running processes, SQLite files): a thread copies the WAL back
    into the database file every second, so that no commit has to (a commit that crosses SQLite's
    threshold runs the checkpoint and its fsync itself: 10-15 ms on this machine's disk, where a
    commit otherwise takes 70 us).

    `pool_size`, `max_overflow` (PostgreSQL): the connections the pool keeps open once opened, and
    how many more it opens while those are all in use (each closed again when given back)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": _BUSY_TIMEOUT_S},
            json_serializer=json_text,  # msgspec: 2-3 us a bracket, json.dumps 20
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA wal_autocheckpoint={_WAL_BACKSTOP_PAGES}")
            cursor.close()

        path = engine.url.database
        if background_checkpoints and path and path != ":memory:":
            _start_checkpoints(engine, path)
        return engine
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args={"connect_timeout": 3},
        json_serializer=json_text,
    )
    prepare_engine(engine)  # pings idle connections only: see `app.adapters.sql.flights`
    return engine


def _start_checkpoints(engine: Engine, path: str, every_seconds: float = 1.0) -> None:
    """Checkpoint the SQLite file at `path` every `every_seconds` from a daemon thread, until
    the engine is garbage-collected. PASSIVE: it copies what no reader still needs and never
    blocks a writer; sqlite3 releases the GIL while it works."""
    stop = threading.Event()
    weakref.finalize(engine, stop.set)
    uri = f"file:{pathname2url(str(Path(path).resolve()))}?mode=rw"

    def run() -> None:
        connection = None
        try:
            while not stop.wait(every_seconds):
                with contextlib.suppress(sqlite3.Error):  # gone for now: the next round tries
                    # mode=rw: a database file that is not there is not created
                    connection = connection or sqlite3.connect(uri, uri=True, timeout=1)
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            if connection is not None:
                connection.close()

    threading.Thread(target=run, name="sqlite-checkpoints", daemon=True).start()


@contextmanager
def transaction(
    engine: Engine,
    *,
    write: bool = False,
    ahead: Callable[[Connection], object] | None = None,
    reads: bool = False,
    seen_first: bool = False,
    one_statement: bool = False,
    ahead_alone: bool = False,
) -> Iterator[Connection]:
    """A transaction whose lost or refused connections surface as `Unavailable`.

    On PostgreSQL, its statements travel together (`app.adapters.sql.flights`), after those of
    the transaction `ahead` sends, if any (PostgreSQL only); `reads`: a block of reads whose
    statements may each see the database as of its own start; `seen_first`: a write whose
    COMMIT need not wait for the disk (`flights.pipelined` says when that is safe);
    `one_statement`: it sends one statement, a transaction of its own (no BEGIN, no COMMIT);
    `ahead_alone`: `ahead` sends one statement, which makes the commit asynchronous itself.

    `write`: on SQLite, the transaction takes the database's write lock first, asking again every
    0.1 ms while another process holds it (every 2 ms after the first 5 ms). SQLite's own wait
    sleeps 1 ms, then 2, then 5 ... before it asks again: with the worker and the paper venue's
    host writing side by side, a third of their writes waited that long for a lock held a few
    tenths of a millisecond.
    """
    try:
        if engine.dialect.name == "postgresql":
            with pipelined(engine, ahead, reads=reads, seen_first=seen_first,
                           one_statement=one_statement,
                           ahead_alone=ahead_alone) as conn:  # fmt: skip
                yield conn
            return
        if ahead is not None:
            raise ValueError("a transaction sent ahead needs PostgreSQL")
        with engine.begin() as conn:
            if write and conn.dialect.name == "sqlite":
                _take_write_lock(conn.connection.dbapi_connection)
            yield conn
    except (OperationalError, InterfaceError, DisconnectionError) as exc:
        raise Unavailable(f"database unreachable ({type(exc).__name__})") from exc


def _take_write_lock(connection: Any) -> None:
    """BEGIN IMMEDIATE, asked again every 0.1 ms for 5 ms, then every 2 ms, for up to
    `_BUSY_TIMEOUT_S`."""
    if connection.in_transaction:
        raise RuntimeError("a write transaction was opened inside another transaction")
    started = time.monotonic()
    connection.execute("PRAGMA busy_timeout = 0")  # a busy lock fails at once: asked again here
    try:
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                code = getattr(error, "sqlite_errorcode", 0)  # extended: the low byte is the kind
                busy = code & 0xFF == sqlite3.SQLITE_BUSY
                waited = time.monotonic() - started
                if busy and waited > _BUSY_TIMEOUT_S:
                    raise Unavailable(
                        f"the SQLite database stayed locked by another process for {waited:.0f} s;"
                        " look for a stuck process or a long write on the same database file"
                    ) from error
                if not busy:
                    raise DBAPIError.instance(
                        "BEGIN IMMEDIATE", None, error, sqlite3.Error
                    ) from error
                time.sleep(_LOCK_POLL_S if waited < _LOCK_FAST_S else _LOCK_POLL_SLOW_S)
            else:
                return
    finally:
        connection.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")


def dialect_insert(engine: Engine) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL)."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


def upsert(insert: Any, keys: list[str], keep: set[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every column but `keep` from the new row."""
    changes = {c.name: insert.excluded[c.name] for c in insert.table.columns if c.name not in keep}
    return insert.on_conflict_do_update(index_elements=keys, set_=changes)


class Page(Protocol):
    @property
    def limit(self) -> int: ...

    @property
    def before(self) -> object:
        """The cursor: the last id of the previous page (None: the first page)."""
        ...


def newest_first(table: Table, page: Page, **equal: object) -> Select[Any]:
    """A page of `table`'s rows, highest id first, below the page's cursor, with each column
    named in `equal` equal to its value (None: any value)."""
    query = select(table).order_by(table.c.id.desc()).limit(page.limit)
    for column, value in equal.items():
        if value is not None:
            query = query.where(table.c[column] == value)
    return query if page.before is None else query.where(table.c.id < page.before)


def as_utc(value: datetime) -> datetime:
    """A datetime as read back: SQLite's have no zone (written in UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _row(record: SignalRecord) -> dict[str, Any]:
    signal = record.signal
    return {
        "id": record.id,
        "received_at": record.received_at,
        "updated_at": record.received_at,
        "status": record.status.value,
        "reason": record.reason,
        "duplicate_of": record.duplicate_of,
        "source": signal.source,
        "dialect": record.dialect,
        "strategy": signal.strategy,
        "account": signal.account,
        "symbol": signal.symbol,
        "action": signal.action.value,
        "quantity": signal.quantity,
        "price": signal.price,
        "confidence": signal.confidence,
        "alert_id": signal.alert_id,
        "unit_id": signal.link.unit if signal.link else None,
        "fired_at": signal.fired_at,
        "dedupe_key": record.dedupe_key,
        "client": record.client,
        "signal": _stored(signal),
        "payload": record.payload,
    }


def _stored(signal: Signal) -> dict[str, Any]:
    """The signal as its row keeps it; without a strategy position, without the field, which
    a worker of the previous release (a deploy's overlap) does not know."""
    stored: dict[str, Any] = msgspec.to_builtins(signal)
    if stored.get("strategy_position") is None:
        stored.pop("strategy_position", None)
    return stored


def _view(row: Any, history: list[StatusChange]) -> SignalView:
    columns = row._mapping
    return SignalView(
        received_at=as_utc(row.received_at),
        signal=msgspec.convert(row.signal, Signal),
        history=history,
        **{name: columns[name] for name in _VIEW_COLUMNS},
    )


class SqlSignalStore:
    """`SignalStore` and `SignalReader` over one engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)
        self._one_statement = SignalInserts(engine) if engine.dialect.name == "postgresql" else None

    def _begin(self) -> AbstractContextManager[Connection]:
        return transaction(self._engine)

    def add_many(self, records: Sequence[SignalRecord]) -> None:
        if not records:
            return
        stmt = (
            self._insert(signals)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(signals.c.id)
        )
        by_id = {r.id: r for r in records}
        rows = [_row(r) for r in records]  # made before the write lock is taken
        at_once = self._one_statement is not None  # one statement: its own transaction
        with transaction(self._engine, write=True, one_statement=at_once) as conn:
            if self._one_statement is not None:  # one round trip, COMMIT included
                self._one_statement.send(conn, rows)
                return
            inserted = conn.execute(stmt, rows).scalars().all()
            if inserted:
                conn.execute(
                    events.insert(),
                    [
                        {
                            "signal_id": i,
                            "at": by_id[i].received_at,
                            "status": by_id[i].status.value,
                            "detail": by_id[i].reason,
                        }
                        for i in inserted
                    ],
                )

    def first_since(self, dedupe_key: str, since: datetime) -> str | None:
        query = (
            select(signals.c.id)
            .where(
                signals.c.dedupe_key == dedupe_key,
                signals.c.received_at >= since,
                signals.c.status.notin_([status.value for status in NOT_KEPT]),
            )
            .order_by(signals.c.received_at)
            .limit(1)
        )
        with self._begin() as conn:
            return conn.execute(query).scalar()

    def spooled(self, limit: int) -> list[SignalRecord]:
        query = (
            select(signals)
            .where(signals.c.status == SignalStatus.SPOOLED.value)
            .order_by(signals.c.id)
            .limit(limit)
        )
        with self._begin() as conn:
            rows = conn.execute(query).all()
        return [
            SignalRecord(
                id=row.id,
                received_at=as_utc(row.received_at),
                status=SignalStatus.SPOOLED,
                signal=msgspec.convert(row.signal, Signal),
                dialect=row.dialect,
                dedupe_key=row.dedupe_key,
                payload=row.payload,
                client=row.client,
            )
            for row in rows
        ]

    def set_status(self, ids: Sequence[str], status: SignalStatus, at: datetime) -> None:
        if not ids:
            return
        with transaction(self._engine, write=True) as conn:
            conn.execute(
                update(signals)
                .where(signals.c.id.in_(ids))
                .values(status=status.value, updated_at=at)
            )
            conn.execute(
                events.insert(), [{"signal_id": i, "at": at, "status": status.value} for i in ids]
            )

    def get(self, signal_id: str) -> SignalView | None:
        with self._begin() as conn:
            row = conn.execute(select(signals).where(signals.c.id == signal_id)).first()
            if row is None:
                return None
            history = conn.execute(
                select(events.c.at, events.c.status, events.c.detail, events.c.data)
                .where(events.c.signal_id == signal_id)
                .order_by(events.c.id)
            ).all()
        return _view(row, [StatusChange(as_utc(h.at), h.status, h.detail, h.data) for h in history])

    def find(self, query: SignalQuery) -> list[SignalView]:
        stmt = newest_first(signals, query, status=query.status, strategy=query.strategy,
                            account=query.account, symbol=query.symbol)  # fmt: skip
        if query.since is not None:
            stmt = stmt.where(signals.c.received_at >= query.since)
        with self._begin() as conn:
            return [_view(row, []) for row in conn.execute(stmt).all()]

    def ping(self) -> None:
        with self._begin() as conn:
            conn.execute(text("SELECT 1"))
