"""`GET /signals/{id}` reads its own write: the inbox's copy until the forwarder has moved it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec
import pytest

from app.domain.signals import Action, IntakePolicy, Signal
from app.ports.signals import SignalQuery, SignalView
from app.services.intake import Intake, forward
from app.services.signal_lookup import SignalLookup, inbox_view
from tests.fakes import FakeClock, FakeInbox, FakeQueue, FakeStore, SequentialIds

pytestmark = pytest.mark.anyio

BUY = Signal(
    symbol="BTC/USDT", action=Action.BUY, source="tradingview:native", quantity=Decimal("0.5")
)


@dataclass
class StoreReader:
    """`SignalReader` over the fake store; `moved_during` answers None first, then the row (the
    forwarder moves the signal while the lookup reads the inbox)."""

    store: FakeStore
    reads: list[str] = field(default_factory=list)
    hidden: Iterator[bool] = field(default_factory=lambda: iter(()))

    def get(self, signal_id: str) -> SignalView | None:
        self.reads.append(signal_id)
        record = self.store.rows.get(signal_id)
        if record is None or next(self.hidden, False):
            return None
        return msgspec.structs.replace(inbox_view(record), client="from-sql")

    def find(self, query: SignalQuery) -> list[SignalView]:
        raise NotImplementedError

    def ping(self) -> None:
        pass


@pytest.fixture
def inbox() -> FakeInbox:
    return FakeInbox(FakeClock())


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


async def submit(inbox: FakeInbox, store: FakeStore, signal: Signal = BUY, **policy: object) -> str:
    intake = Intake(inbox, store, inbox.clock, SequentialIds(), IntakePolicy(**policy))  # type: ignore[arg-type]
    submitted = await intake.submit(signal, dialect="native", payload={"symbol": "BTCUSDT"})
    assert submitted.signal_id is not None
    return submitted.signal_id


async def test_a_signal_not_forwarded_yet_is_read_from_the_inbox(inbox, store):
    signal_id = await submit(inbox, store)
    found = await SignalLookup(StoreReader(store), inbox).get(signal_id)
    assert found is not None
    assert (found.id, found.status, found.symbol, found.action) == (
        signal_id,
        "queued",
        "BTC/USDT",
        "buy",
    )
    assert found.signal == BUY
    assert found.payload == {"symbol": "BTCUSDT"}
    assert [(h.at, h.status) for h in found.history] == [(found.received_at, "queued")]


async def test_a_filtered_signal_is_read_from_the_inbox_with_its_reason(inbox, store):
    low = msgspec.structs.replace(BUY, confidence=0.2)
    signal_id = await submit(inbox, store, low, confidence_threshold=0.5)
    found = await SignalLookup(StoreReader(store), inbox).get(signal_id)
    assert found is not None
    assert found.status == "filtered"
    assert found.reason is not None
    assert [(h.status, h.detail) for h in found.history] == [("filtered", found.reason)]


async def test_a_forwarded_signal_is_read_from_the_database(inbox, store):
    signal_id = await submit(inbox, store)
    forward(inbox, store, FakeQueue())
    found = await SignalLookup(StoreReader(store), inbox).get(signal_id)
    assert found is not None
    assert found.client == "from-sql"


async def test_a_signal_moved_between_the_reads_is_found_in_the_database(inbox, store):
    signal_id = await submit(inbox, store)
    forward(inbox, store, FakeQueue())  # in SQL, gone from the inbox...
    reader = StoreReader(store, hidden=iter([True]))  # ...after the first read of SQL
    found = await SignalLookup(reader, inbox).get(signal_id)
    assert found is not None
    assert found.client == "from-sql"
    assert reader.reads == [signal_id, signal_id]


async def test_an_unknown_id_is_none(inbox, store):
    await submit(inbox, store)
    assert await SignalLookup(StoreReader(store), inbox).get("S-nope") is None


async def test_an_unreachable_inbox_counts_as_holding_nothing(inbox, store):
    signal_id = await submit(inbox, store)
    inbox.down = True
    assert await SignalLookup(StoreReader(store), inbox).get(signal_id) is None
