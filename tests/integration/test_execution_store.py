"""The SQL execution store keeps bracket saves back to batch its writes: never past a send."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.adapters.db import SqlSignalStore, make_engine
from app.adapters.exchange_paper import PaperExchange
from app.adapters.execution_store import SqlExecutionStore
from app.domain.orders import OrderRequest, OrderStatus
from app.domain.paper import PaperVenue
from app.domain.risk import RiskLimits
from app.domain.signals import SignalRecord, SignalStatus
from app.domain.sizing import SizingPolicy
from app.execution import Executor
from app.monitor import BracketMonitor
from app.ports_execution import NoLocks, OrderQuery
from tests.paper_helpers import book
from tests.unit.test_execution import MARKET, alert

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


class Witness(PaperExchange):
    """A paper venue that, whenever an order is sent or cancelled, asks the database -- through
    a store of its own -- whether that order is already on record."""

    reader: SqlExecutionStore
    seen: list[tuple[str, str]]

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        self._check(request.client_order_id)
        return await super().create_order(request)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        order = self.venue.order(order_id)
        assert order.client_order_id is not None
        self._check(order.client_order_id)
        return await super().cancel_order(symbol, order_id)

    def _check(self, client_order_id: str) -> None:
        listed = {o.client_order_id: o.state for o in self.reader.orders(OrderQuery(limit=500))}
        assert client_order_id in listed, f"{client_order_id} was sent before it was saved"
        self.seen.append((client_order_id, listed[client_order_id]))


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
async def test_every_order_is_on_record_before_it_is_sent_or_cancelled(
    database: str, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(request.getfixturevalue(database))
    books = {"BTC/USDT": book("99990x1", "100000x1")}
    venue = Witness(PaperVenue("a", [MARKET]), lambda symbol: books[symbol], lambda: NOW)
    venue.reader, venue.seen = SqlExecutionStore(engine), []
    store = SqlExecutionStore(engine)
    executor = Executor(
        store=store, venues={"a": venue}, modes={"a": "paper"}, clock=lambda: NOW,
        locks=NoLocks(), limits=RiskLimits(), sizing=SizingPolicy(),
    )  # fmt: skip
    record = SignalRecord("01JX5Z3K8Q4W2N7R9T1V3B5C00", NOW, SignalStatus.QUEUED, alert(),
                          "native", "k")  # fmt: skip
    SqlSignalStore(engine).add_many([record])
    assert await executor.execute(record.id) is SignalStatus.EXECUTED
    assert [cid[-4:-2] for cid, _ in venue.seen] == ["en", "sl"]
    assert all(state == "submitted" for _, state in venue.seen)

    books["BTC/USDT"] = book("110000x1", "110010x1")  # the target: the monitor cancels the stop
    monitor = BracketMonitor(store=store, venues={"a": venue}, driver=executor.driver,
                             locks=NoLocks())  # fmt: skip
    assert await monitor.run_once() == 1
    assert len(venue.seen) >= 3  # the cancel and the take-profit were checked too
    saved = SqlExecutionStore(engine).bracket(record.id)
    assert saved is not None
    assert str(saved.state) == "closed"
    assert saved.realized_pnl > Decimal(0)
    engine.dispose()
