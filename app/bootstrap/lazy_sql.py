"""The web process's SQL, built on first use.

SQL keeps the alerts that arrive while Redis is down (the spool), tells intake which accounts a
strategy's alerts fan out to (the account directory, read again every few seconds), and serves
the read API and /ready; `/health` needs none of it. Importing SQLAlchemy and SQLModel with the
tables took about a third of the web process's start, and a restarted web process holds the
alerts that arrive until it answers. So the engine, the signal store and the account directory
are built on the first call that needs them, in whichever thread makes it, once; `warm_up` builds
them on a thread of their own right after the start, so that the first alert or read seldom
waits for the import.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from app.config.settings import Settings
from app.domain.signals import SignalRecord, SignalStatus
from app.ports.errors import Unavailable
from app.ports.signals import SignalQuery, SignalView

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.adapters.sql.db import SqlSignalStore
    from app.domain.accounts import AccountRefused
    from app.services.accounts import AccountDirectory

log = logging.getLogger("signalgate.web")

# how long a shut-down waits for a warm-up under way (an import: well under a second)
_WARM_UP_JOIN_SECONDS = 5.0


class _Built(NamedTuple):
    engine: Engine
    store: SqlSignalStore
    directory: AccountDirectory


class LazySql:
    """The engine, the signal store (a `SignalStore` and a `SignalReader`) and the account
    directory (`Subscribers`), built on first use.

    Every store call runs on a worker thread (the intake spools, and the API reads, through
    `asyncio.to_thread`), and `accounts_for` builds on one, so a first call that builds never
    holds the event loop.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._built: _Built | None = None
        self._warming: threading.Thread | None = None

    @property
    def built(self) -> bool:
        return self._built is not None

    @property
    def engine(self) -> Engine:
        """The process's engine (imports SQLAlchemy and builds it on the first call)."""
        return self._build().engine

    @property
    def store(self) -> SqlSignalStore:
        """The signal store over the engine (built on the first call)."""
        return self._build().store

    @property
    def directory(self) -> AccountDirectory:
        """Accounts and subscriptions as intake reads them (built on the first call)."""
        return self._build().directory

    def _build(self) -> _Built:
        built = self._built
        if built is not None:
            return built
        with self._lock:
            if self._built is None:
                # imported here, not at start: see the module's docstring
                from app.adapters.sql.db import SqlSignalStore  # noqa: PLC0415
                from app.bootstrap.accounts import account_directory  # noqa: PLC0415
                from app.bootstrap.database import process_engine  # noqa: PLC0415

                engine = process_engine(self._settings)
                self._built = _Built(
                    engine,
                    SqlSignalStore(engine),
                    account_directory(self._settings, engine, remembered=True),
                )
            return self._built

    def warm_up(self) -> None:
        """Build the engine, the store and the directory on a daemon thread; open one connection."""
        if self.built or self._warming is not None:
            return
        self._warming = threading.Thread(target=self._warm, name="sql-warm-up", daemon=True)
        self._warming.start()

    def _warm(self) -> None:
        try:
            built = self._build()
            built.directory.warm()  # its first read, on a thread of its own
            built.store.ping()
        except Unavailable as exc:  # /ready and the first call that needs it say so
            log.debug("database not reachable while warming up: %s", exc)
        except Exception:  # said here; the first call that needs it raises it again
            log.exception("building the database engine failed")
        # What the import made lives as long as the process: out of the collector's way, as the
        # rest of the start is (app.entrypoints.web.app).
        gc.freeze()

    def dispose(self) -> None:
        """Close the engine's connections, if it was built (after any warm-up under way)."""
        if self._warming is not None:
            self._warming.join(_WARM_UP_JOIN_SECONDS)
        with self._lock:
            if self._built is not None:
                self._built.engine.dispose()

    # Subscribers
    async def accounts_for(
        self, strategy: str | None, account: str
    ) -> tuple[str, ...] | AccountRefused:
        built = self._built
        if built is None:
            built = await asyncio.to_thread(self._build)
        return await built.directory.accounts_for(strategy, account)

    # SignalStore
    def add_many(self, records: Sequence[SignalRecord]) -> None:
        self.store.add_many(records)

    def first_since(self, dedupe_key: str, since: datetime) -> str | None:
        return self.store.first_since(dedupe_key, since)

    def spooled(self, limit: int) -> list[SignalRecord]:
        return self.store.spooled(limit)

    def set_status(self, ids: Sequence[str], status: SignalStatus, at: datetime) -> None:
        self.store.set_status(ids, status, at)

    # SignalReader
    def get(self, signal_id: str) -> SignalView | None:
        return self.store.get(signal_id)

    def find(self, query: SignalQuery) -> list[SignalView]:
        return self.store.find(query)

    def ping(self) -> None:
        self.store.ping()
