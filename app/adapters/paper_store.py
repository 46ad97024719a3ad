"""Paper venue states in SQL: one row per venue, the whole `PaperState` as JSON.

Decimals travel as strings (msgspec's default), so balances and prices come back exactly.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime

import msgspec
from sqlalchemy import Connection, Engine, select

from app.adapters.db import dialect_insert, transaction
from app.adapters.tables import PaperVenueRow
from app.domain.paper import PaperState

paper_venues = PaperVenueRow.__table__  # type: ignore[attr-defined]


class SqlPaperStore:
    """Keeps paper venue states over one engine (see `PaperExchange.open`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = dialect_insert(engine)

    def _begin(self) -> AbstractContextManager[Connection]:
        return transaction(self._engine)

    def load(self, name: str) -> PaperState | None:
        """The last state saved for venue `name`, or None when it has none yet.

        Raises:
            Unavailable: the database could not be reached.
        """
        query = select(paper_venues.c.state).where(paper_venues.c.name == name)
        with self._begin() as conn:
            state = conn.execute(query).scalar()
        return None if state is None else msgspec.convert(state, PaperState)

    def save(self, name: str, state: PaperState) -> None:
        """Insert or replace the state of venue `name`.

        Raises:
            Unavailable: the database could not be reached; the previous state stays.
        """
        values = {"state": msgspec.to_builtins(state), "updated_at": datetime.now(UTC)}
        stmt = (
            self._insert(paper_venues)
            .values(name=name, **values)
            .on_conflict_do_update(index_elements=["name"], set_=values)
        )
        with self._begin() as conn:
            conn.execute(stmt)
