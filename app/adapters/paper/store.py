"""Paper venues in SQL, one row per order, balance and fill, written as they change.

A save writes only what changed since the last one (`PaperVenue.changes()`), in one
transaction: upserts of the changed orders and balances, inserts of the new fills. A load
rebuilds a venue from its open orders, balances and recent history; older closed orders and
fills stay in SQL and are read one at a time (`order_by_client_id`, `order`, `fills_between`).
The balance, order and fill tables hold a column per field of `PaperBalance`, `PaperOrder` and
`Fill`, plus the venue's name: rows are written from those values and read back into them.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, TypeVar, get_type_hints

import msgspec
from msgspec.structs import asdict
from sqlalchemy import Connection, Engine, bindparam, or_, select, text, update

from app.adapters.sql.db import as_utc, dialect_insert, transaction
from app.adapters.sql.json_rows import ASYNC_COMMIT, column_names, insert_from_json, json_text
from app.adapters.sql.prepared import Prepared
from app.adapters.sql.tables import PaperBalanceRow, PaperFillRow, PaperOrderRow, PaperVenueRow
from app.domain.market import Market
from app.domain.orders import Fill
from app.domain.paper.state import OPEN_STATES, PaperBalance, PaperChanges, PaperOrder, PaperState

paper_venues = PaperVenueRow.__table__  # type: ignore[attr-defined]
paper_orders = PaperOrderRow.__table__  # type: ignore[attr-defined]
paper_balances = PaperBalanceRow.__table__  # type: ignore[attr-defined]
paper_fills = PaperFillRow.__table__  # type: ignore[attr-defined]

_OPEN = [state.value for state in OPEN_STATES]
_ORDER_CHANGES = ("state", "filled", "cost", "fee", "reserved", "updated_at")
_markets = msgspec.convert
S = TypeVar("S", bound=msgspec.Struct)


class SqlPaperStore:
    """Keeps paper venues over one engine (see `PaperExchange.open`).

    Every method raises `Unavailable` when the database cannot be reached.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._saved: set[str] = set()  # the venues known to be in the database (saved whole)
        insert = dialect_insert(engine)
        # the writes of every order: compiled once, run on the driver's cursor (`Prepared`)
        orders = insert(paper_orders)
        self._upsert_orders = Prepared(
            engine,
            orders.on_conflict_do_update(
                index_elements=["venue", "order_id"],
                set_={name: orders.excluded[name] for name in _ORDER_CHANGES},
            ),
        )
        balances = insert(paper_balances)
        self._upsert_balances = Prepared(
            engine,
            balances.on_conflict_do_update(
                index_elements=["venue", "asset"],
                set_={"free": balances.excluded.free, "reserved": balances.excluded.reserved},
            ),
        )
        venues = insert(paper_venues)
        self._upsert_venue = venues.on_conflict_do_update(
            index_elements=["name"],
            set_={name: venues.excluded[name] for name in ("markets", "next_order_number")}
            | {"updated_at": venues.excluded.updated_at},
        )
        self._insert_fills = Prepared(engine, paper_fills.insert().inline())  # no ids returned
        self._set_next_order_number = Prepared(
            engine,
            update(paper_venues)
            .where(paper_venues.c.name == bindparam("venue"))
            .values(next_order_number=bindparam("number"), updated_at=bindparam("at")),
        )
        by_venue = select(paper_orders).where(paper_orders.c.venue == bindparam("venue"))
        self._order_by_client_id = by_venue.where(
            paper_orders.c.client_order_id == bindparam("key")
        )
        self._order_by_id = by_venue.where(paper_orders.c.order_id == bindparam("key"))

        # PostgreSQL: a save of a venue saved whole before as one statement (`_save_at_once`)
        self._at_once = (
            Prepared(engine, text(_at_once_sql())) if engine.dialect.name == "postgresql" else None
        )

    def _begin(self) -> AbstractContextManager[Connection]:
        return transaction(self._engine)

    # --- writing ---------------------------------------------------------------------------

    def save_changes(self, name: str, changes: PaperChanges) -> None:
        """Write what venue `name` changed, all or nothing.

        Raises:
            Unavailable: the database could not be reached; nothing was written.
            LookupError: the venue was never saved whole (its first changes carry its markets).
        """
        if changes.empty:
            return
        now = datetime.now(UTC)
        if self._at_once is not None and changes.markets is None and name in self._saved:
            self._save_at_once(self._at_once, name, changes, now)
            return
        # PostgreSQL's COMMIT does not wait for the disk: whoever acts on the venue's answer
        # writes that with a COMMIT that does (an order is saved before it is sent), which
        # makes this one durable too; a database lost before that loses both, as if the venue
        # never got the request (the case the lost-create protocol settles)
        with transaction(self._engine, write=True, seen_first=True) as conn:
            if changes.markets is not None:
                conn.execute(
                    self._upsert_venue,
                    {
                        "name": name,
                        "markets": msgspec.to_builtins(changes.markets),
                        "next_order_number": changes.next_order_number or 1,
                        "updated_at": now,
                    },
                )
            elif changes.next_order_number is not None:
                values = {"venue": name, "number": changes.next_order_number, "at": now}
                if name in self._saved:  # sent ahead: the whole save is one round trip
                    self._set_next_order_number.send(conn, values)
                elif not self._set_next_order_number.execute(conn, values):
                    raise LookupError(
                        f"the paper venue {name} is not in the database; open it with "
                        "PaperExchange.open so it is saved whole first"
                    )
            self._upsert_balances.send_many(conn, _rows(name, changes.balances))
            self._upsert_orders.send_many(conn, _rows(name, changes.orders))
            self._insert_fills.send_many(conn, _rows(name, changes.fills))
        self._saved.add(name)

    def _save_at_once(
        self, statement: Prepared, name: str, changes: PaperChanges, now: datetime
    ) -> None:
        """`save_changes` on PostgreSQL as one statement: a transaction of its own, whose
        COMMIT does not wait for the disk either (`_at_once_sql`). Its rows go as JSON, each
        order and balance once (`PaperChanges` holds each once)."""
        values = {
            "venue": name,
            "number": changes.next_order_number,
            "at": now,
            "balances": json_text(_rows(name, changes.balances)),
            "orders": json_text(_rows(name, changes.orders)),
            "fills": json_text(_rows(name, changes.fills)),
        }
        with transaction(self._engine, write=True, one_statement=True) as conn:
            statement.send(conn, values)

    # --- reading ---------------------------------------------------------------------------

    def load(
        self, name: str, since: datetime | None = None, keep: int | None = None
    ) -> PaperState | None:
        """Venue `name` as last saved, or None when it was never saved: its balances, open
        orders, and the closed orders and fills last changed at or after `since` (everything
        when None), at most about the newest `keep` of each (`history_since` is then the
        later of `since` and the oldest time kept)."""
        venue_query = select(paper_venues.c.markets, paper_venues.c.next_order_number).where(
            paper_venues.c.name == name
        )
        with self._begin() as conn:
            venue = conn.execute(venue_query).first()
            if venue is None:
                return None
            cut = self._cut(conn, name, since, keep)
            orders_query = select(paper_orders).where(paper_orders.c.venue == name)
            fills_query = select(paper_fills).where(paper_fills.c.venue == name)
            if cut is not None:
                orders_query = orders_query.where(
                    or_(paper_orders.c.state.in_(_OPEN), paper_orders.c.updated_at >= cut)
                )
                fills_query = fills_query.where(paper_fills.c.at >= cut)
            balances = conn.execute(
                select(paper_balances).where(paper_balances.c.venue == name)
            ).all()
            orders = conn.execute(orders_query).all()
            fills = conn.execute(fills_query.order_by(paper_fills.c.id)).all()
        self._saved.add(name)
        return PaperState(
            name=name,
            markets=_markets(venue.markets, tuple[Market, ...]),
            balances=tuple(_from_row(PaperBalance, row) for row in balances),
            orders=tuple(sorted((_from_row(PaperOrder, row) for row in orders), key=_order_number)),
            fills=tuple(_from_row(Fill, row) for row in fills),
            next_order_number=venue.next_order_number,
            history_since=None if cut is None else as_utc(cut),
        )

    @staticmethod
    def _cut(
        conn: Connection, name: str, since: datetime | None, keep: int | None
    ) -> datetime | None:
        """The time from which a load keeps closed orders and fills: `since`, or later, so that
        at most about `keep` of each are kept (the `keep`-th newest's time)."""
        cuts = [] if since is None else [as_utc(since)]
        if keep is not None:
            newest_closed = (
                select(paper_orders.c.updated_at)
                .where(paper_orders.c.venue == name, paper_orders.c.state.not_in(_OPEN))
                .order_by(paper_orders.c.updated_at.desc())
            )
            newest_fills = (
                select(paper_fills.c.at)
                .where(paper_fills.c.venue == name)
                .order_by(paper_fills.c.at.desc())
            )
            for query in (newest_closed, newest_fills):
                found = conn.execute(query.offset(keep - 1).limit(1)).scalar()
                if found is not None:
                    cuts.append(as_utc(found))
        return max(cuts, default=None)

    def order_by_client_id(self, name: str, client_order_id: str) -> PaperOrder | None:
        """The order of venue `name` with this client order id, however old."""
        return self._one_order(self._order_by_client_id, name, client_order_id)

    def order(self, name: str, order_id: str) -> PaperOrder | None:
        """The order `order_id` of venue `name`, however old."""
        return self._one_order(self._order_by_id, name, order_id)

    def fills_between(self, name: str, symbol: str, since: datetime, until: datetime) -> list[Fill]:
        """The fills of venue `name` on `symbol` made at or after `since`, before `until`."""
        query = (
            select(paper_fills)
            .where(
                paper_fills.c.venue == name,
                paper_fills.c.at >= as_utc(since),
                paper_fills.c.at < as_utc(until),
                paper_fills.c.symbol == symbol,
            )
            .order_by(paper_fills.c.id)
        )
        with self._begin() as conn:
            return [_from_row(Fill, row) for row in conn.execute(query)]

    def _one_order(self, query: Any, name: str, key: str) -> PaperOrder | None:
        with self._begin() as conn:
            row = conn.execute(query, {"venue": name, "key": key}).first()
        return None if row is None else _from_row(PaperOrder, row)


def _at_once_sql() -> str:
    """A save of a paper venue's changes in one PostgreSQL statement: the next order number
    (when it changed), the balances and orders upserted, the new fills inserted, each kind of
    row one JSON parameter (every CTE that writes runs, whether its result is read or not).
    The statement ends by making its own transaction's COMMIT not wait for the disk, as a
    save's never did (`save_changes`)."""
    balances = ", ".join(f"{c} = excluded.{c}" for c in ("free", "reserved"))
    orders = ", ".join(f"{c} = excluded.{c}" for c in _ORDER_CHANGES)
    return f"""
WITH numbered AS (
    UPDATE {paper_venues.name}
    SET next_order_number = CAST(:number AS integer), updated_at = CAST(:at AS timestamptz)
    WHERE name = :venue AND CAST(:number AS integer) IS NOT NULL
),
balances AS ({insert_from_json(paper_balances, "balances", column_names(paper_balances))}
    ON CONFLICT (venue, asset) DO UPDATE SET {balances}),
orders AS ({insert_from_json(paper_orders, "orders", column_names(paper_orders))}
    ON CONFLICT (venue, order_id) DO UPDATE SET {orders}),
fills AS ({insert_from_json(paper_fills, "fills", column_names(paper_fills, but=["id"]))})
SELECT {ASYNC_COMMIT}
"""  # noqa: S608 - table and column names from the tables' metadata, values bound


def _rows(name: str, items: Iterable[msgspec.Struct]) -> list[dict[str, Any]]:
    """Balances, orders or fills of venue `name` as their table's rows: a column per field."""
    rows = []
    for item in items:
        row = asdict(item)
        row["venue"] = name
        for field, column in _columns(type(item)):
            row[field] = column(row[field])
        rows.append(row)
    return rows


@functools.cache
def _columns(kind: type[msgspec.Struct]) -> tuple[tuple[str, Callable[[Any], object]], ...]:
    """The fields of `kind` a column holds in another form: enums by value, times in UTC."""
    found: list[tuple[str, Callable[[Any], object]]] = []
    for field, hint in get_type_hints(kind).items():
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            found.append((field, _value))
        elif hint is datetime:
            found.append((field, as_utc))
    return tuple(found)


def _value(member: enum.Enum) -> object:
    return member.value


def _from_row(kind: type[S], row: Any) -> S:
    """A row back as the balance, order or fill it was written from, its times in UTC."""
    fields = kind.__struct_fields__
    return msgspec.convert({field: _from_column(getattr(row, field)) for field in fields}, kind)


def _from_column(value: object) -> object:
    return as_utc(value) if isinstance(value, datetime) else value


def _order_number(order: PaperOrder) -> int:
    """Orders are numbered in time order: restoring them so keeps resting time priority."""
    return int(order.order_id)
