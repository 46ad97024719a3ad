"""A bracket save under a lock is a compare-and-swap (`ExecutionStore.batch(*fences)`): a stale
holder's save raises `StaleBracket` and it sends nothing more, on SQLite, on PostgreSQL and in
memory. The worker and the monitor each have a store of their own (two processes; in memory
they share one, each in its own holder block)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from msgspec.structs import replace

from app.adapters.memory_execution import MemoryExecutionStore
from app.adapters.paper.exchange import PaperExchange
from app.adapters.sql.db import make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.brackets.bracket import Bracket, BracketState, LegOrder, with_order
from app.domain.orders import Leg, OrderKind, OrderRequest, OrderStatus, Side, client_order_id
from app.domain.paper.venue import PaperVenue
from app.ports.errors import StaleBracket
from app.ports.execution import ExecutionStore, Fence, lock_key
from app.services.brackets.driver import BracketDriver
from tests.paper_helpers import book
from tests.unit.test_brackets import SID, entry, long
from tests.unit.test_execution import MARKET

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
KEY = lock_key("default", "BTC/USDT")
WORKER, MONITOR = Fence(KEY, 1_000), Fence(KEY, 1_001)  # the monitor took the key later


class Recording(PaperExchange):
    """A paper venue that keeps every create it is sent."""

    sent: list[str]

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        self.sent.append(request.client_order_id)
        return await super().create_order(request)


@pytest.fixture(params=["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres),
                        "memory"])  # fmt: skip
def stores(request: pytest.FixtureRequest) -> Iterator[tuple[ExecutionStore, ExecutionStore]]:
    """The worker's store and the monitor's."""
    if request.param == "memory":
        shared = MemoryExecutionStore()
        yield shared, shared
        return
    engine = make_engine(request.getfixturevalue(request.param))
    yield SqlExecutionStore(engine), SqlExecutionStore(engine)
    engine.dispose()


def stop_loss() -> LegOrder:
    return LegOrder(
        leg=Leg.STOP_LOSS,
        client_order_id=client_order_id(SID, Leg.STOP_LOSS),
        side=Side.SELL,
        kind=OrderKind.STOP_MARKET,
        amount=Decimal("0.010"),
        trigger_price=Decimal(95),
        reduce_only=True,
    )


def saved(store: ExecutionStore, bracket_id: str = SID) -> Bracket:
    found = store.bracket(bracket_id)
    assert found is not None
    return found


def monitor_saves(store: ExecutionStore, note: str) -> None:
    """The newer holder reads the bracket and saves it."""
    with store.batch(MONITOR):
        store.save_bracket(replace(saved(store), note=note), NOW)


async def test_a_stale_holders_save_before_a_send_raises_and_nothing_is_sent(
    stores: tuple[ExecutionStore, ExecutionStore], caplog: pytest.LogCaptureFixture
) -> None:
    worker, monitor = stores
    worker.save_bracket(long(entry()), NOW)
    books = {"BTC/USDT": book("99990x1", "100000x1")}
    venue = Recording(PaperVenue("paper", [MARKET]), lambda symbol: books[symbol], lambda: NOW)
    venue.sent = []
    driver = BracketDriver(worker, lambda: NOW)

    with caplog.at_level(logging.ERROR), worker.batch(WORKER):
        bracket = saved(worker)  # the worker reads it under its lock ...
        monitor_saves(monitor, "driven by the monitor")  # ... its lease lapses, the monitor acts
        with pytest.raises(StaleBracket, match=f"bracket {SID} .* was saved again since"):
            await driver.create(with_order(bracket, stop_loss()), stop_loss(), venue)
        with pytest.raises(StaleBracket, match="sends nothing more"):  # and stays refused
            worker.save_bracket(replace(bracket, note="the worker's"), NOW)

    assert venue.sent == []
    assert saved(monitor).note == "driven by the monitor"
    assert saved(monitor).orders == (entry(),)
    assert [r.levelno for r in caplog.records if "STALE" in r.getMessage()] == [logging.ERROR]


def test_a_stale_save_kept_back_is_refused_when_the_batch_is_written_and_the_rest_is_written(
    stores: tuple[ExecutionStore, ExecutionStore],
) -> None:
    worker, monitor = stores
    worker.save_bracket(long(entry()), NOW)
    other = replace(long(entry()), id="01KA0000000000000000000099")

    def stale_batch() -> None:
        with worker.batch(WORKER):
            bracket = saved(worker)
            monitor_saves(monitor, "driven by the monitor")
            worker.save_bracket(other, NOW)  # new: nobody else saved it
            worker.save_bracket(replace(bracket, note="the worker's"), NOW)  # kept back in SQL

    with pytest.raises(StaleBracket):
        stale_batch()
    assert saved(monitor).note == "driven by the monitor"
    assert saved(monitor, other.id) == other


def test_an_older_fencing_token_cannot_save_what_a_newer_one_saved(
    stores: tuple[ExecutionStore, ExecutionStore],
) -> None:
    """Even when the stale holder reads the bracket again (its version is then current)."""
    worker, monitor = stores
    worker.save_bracket(long(entry()), NOW)
    monitor_saves(monitor, "driven by the monitor")
    with pytest.raises(StaleBracket, match="newer holder of its lock"), worker.batch(WORKER):
        worker.save_bracket(replace(saved(worker), note="the worker's"), NOW)
    assert saved(monitor).note == "driven by the monitor"


def test_every_save_moves_the_version_and_the_holder_follows_its_own_saves(
    stores: tuple[ExecutionStore, ExecutionStore],
) -> None:
    worker, monitor = stores
    first, second = long(entry()), replace(long(entry()), id="01KA0000000000000000000099")
    with worker.batch(WORKER):  # two new brackets in one write
        worker.save_bracket(first, NOW)
        worker.save_bracket(second, NOW)
    with worker.batch(WORKER):
        for note in ("one", "two", "three"):  # each written at once: kept back, then read
            worker.save_bracket(replace(saved(worker), note=note), NOW)
    worker.save_bracket(replace(first, note="outside any lock"), NOW)  # written as it is
    monitor_saves(monitor, "newer")

    versions = monitor.open_bracket_versions()
    assert versions == {first.id: 6, second.id: 1}
    assert saved(monitor).note == "newer"


def test_a_new_bracket_another_holder_created_meanwhile_is_refused(
    stores: tuple[ExecutionStore, ExecutionStore],
) -> None:
    """A holder that never read a bracket saves it as new: it must not exist."""
    worker, monitor = stores

    def both_create() -> None:
        with worker.batch(WORKER):
            with monitor.batch(MONITOR):
                monitor.save_bracket(replace(long(entry()), note="the monitor's"), NOW)
            worker.save_bracket(long(entry()), NOW)

    with pytest.raises(StaleBracket):
        both_create()
    assert saved(monitor).note == "the monitor's"


@pytest.mark.parametrize(
    "url", ["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)]
)
def test_the_monitors_store_forgets_brackets_closed_elsewhere(
    url: str, request: pytest.FixtureRequest
) -> None:
    """The monitor reads every open bracket each round and keeps each one it read (a save of
    it is then foreseen); one a worker closed is never read again: forgotten at the next read of
    the open brackets' versions, as the soak's monitor grew by every bracket it ever saw."""
    engine = make_engine(request.getfixturevalue(url))
    worker, monitor = SqlExecutionStore(engine), SqlExecutionStore(engine)
    try:
        first, second = long(entry()), replace(long(entry()), id="01KA0000000000000000000099")
        with worker.batch(WORKER):
            worker.save_bracket(first, NOW)
            worker.save_bracket(second, NOW)
        assert {b.id for b in monitor.open_brackets()} == {first.id, second.id}
        assert len(monitor._known) == 2  # what the store keeps is the point
        with worker.batch(WORKER):  # read and closed by the worker
            closed = replace(saved(worker), state=BracketState.CLOSED, closed_at=NOW)
            worker.save_bracket(closed, NOW)

        assert set(monitor.open_bracket_versions()) == {second.id}
        assert len(monitor._known) == 1
    finally:
        engine.dispose()
