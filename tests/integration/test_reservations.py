"""The reservations of approved entries in Redis, the open entries the book reads for the risk
gate, and a dead worker's reservation: it blocks its slot no longer than it lasts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis
import sqlalchemy
from msgspec.structs import replace

from app.adapters.memory_execution import MemoryExecutionStore
from app.adapters.paper.exchange import PaperExchange
from app.adapters.redis.reservations import RedisReservations
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.sql.open_entries import open_entry_orders
from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg, OrderKind, OrderState
from app.domain.paper.venue import PaperVenue
from app.domain.reservations import Reservation, Reserved, RestingEntry
from app.domain.risk_values import RiskLimits
from app.domain.signals import SignalRecord, SignalStatus
from app.domain.sizing import SizingPolicy
from app.ports.execution import ExecutionStore, NoLocks
from app.services.execution.executor import Executor
from app.services.execution.reservations import RESERVATION_TTL
from tests.paper_helpers import book
from tests.unit.test_brackets import entry, long
from tests.unit.test_execution import ETH, ETH_BOOK, MARKET, alert

pytestmark = pytest.mark.anyio
D = Decimal
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def reservation(entry_id: str, expires_at: datetime = NOW + RESERVATION_TTL) -> Reservation:
    return Reservation(entry_id, "paper", "ETH/USDT", D(500), expires_at)


def test_a_reservation_is_taken_at_the_version_read_and_lapses_when_it_expires(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    reservations = RedisReservations(client)
    read = reservations.read("main", NOW)
    assert read == Reserved()
    assert reservations.reserve("main", read.version, reservation("a"), NOW) is None
    newer = reservations.reserve("main", read.version, reservation("b"), NOW)  # read before a
    assert newer == Reserved(1, (reservation("a"),))
    assert reservations.reserve("main", newer.version, reservation("b"), NOW) is None
    assert reservations.read("main", NOW) == Reserved(2, (reservation("a"), reservation("b")))
    reservations.release("main", "a")
    assert reservations.read("main", NOW) == Reserved(2, (reservation("b"),))
    assert reservations.read("other", NOW) == Reserved()  # per account

    later = NOW + RESERVATION_TTL  # b was never released: its worker died
    assert reservations.read("main", later) == Reserved(2, ())
    assert reservations.reserve("main", 2, reservation("c", later + RESERVATION_TTL), later) is None
    assert client.hkeys("signalgate:reserve:main") in ([b"#v", b"c"], [b"c", b"#v"])  # b dropped
    client.close()


def _resting_brackets() -> list[object]:
    limit = replace(entry("0.004", OrderState.PARTIALLY_FILLED), kind=OrderKind.LIMIT,
                    price=D(90), client_order_id="e1")  # fmt: skip
    market = replace(entry("0", OrderState.SUBMITTED), average_price=None, client_order_id="e2")
    stop = replace(entry("0", OrderState.ACCEPTED), kind=OrderKind.STOP_MARKET, average_price=None,
                   trigger_price=D(120), client_order_id="e3")  # fmt: skip
    cancelled = replace(entry("0", OrderState.CANCELLED), kind=OrderKind.LIMIT, price=D(80),
                        average_price=None, client_order_id="e5")  # fmt: skip
    sold = replace(entry("0.010", OrderState.FILLED), leg=Leg.STOP_LOSS, client_order_id="s4")
    return [
        replace(long(limit), id="b1"),  # 0.006 rests at 90
        replace(long(market), id="b2", symbol="ETH/USDT"),  # no price: unknown notional
        replace(long(stop), id="b3", venue="other"),  # 0.010 waits for 120
        replace(long(entry(), sold), id="b4", state=BracketState.CLOSED, closed_at=NOW),
        replace(long(cancelled), id="b5", state=BracketState.FAILED, closed_at=NOW),
        replace(long(replace(entry(), client_order_id="e6")), id="b6", state=BracketState.OPEN),
    ]


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
def test_the_book_reads_resting_entries_and_which_reserved_entries_are_on_record(
    database: str, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(request.getfixturevalue(database))
    stores: list[ExecutionStore] = [SqlExecutionStore(engine), MemoryExecutionStore()]
    try:
        for store in stores:
            for bracket in _resting_brackets():
                store.save_bracket(bracket, NOW)  # type: ignore[arg-type]
            state = store.account_state("default", "BTC/USDT", NOW, ["b2", "b4", "b6", "x"])
            assert sorted(state.resting, key=lambda e: e.bracket_id) == [
                RestingEntry("b1", "paper", "BTC/USDT", D("0.540")),
                RestingEntry("b2", "paper", "ETH/USDT", None),
                RestingEntry("b3", "other", "BTC/USDT", D("1.200")),
            ], type(store)
            assert state.on_record == {"b2", "b6"}, type(store)
    finally:
        engine.dispose()


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> datetime:
        return self.at


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
async def test_a_dead_workers_reservation_holds_its_slot_only_until_it_expires(
    database: str, redis_url: str, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(request.getfixturevalue(database))
    client = redis.Redis.from_url(redis_url)
    clock = Clock()
    books = {"BTC/USDT": book("99990x1", "100010x1"), "ETH/USDT": ETH_BOOK}
    venue = PaperExchange(PaperVenue("paper", [MARKET, ETH]), books.__getitem__, clock.now)
    store = SqlExecutionStore(engine)
    executor = Executor(
        store=store, venues={"paper": venue}, modes={"paper": "paper"}, clock=clock.now,
        locks=NoLocks(), limits=RiskLimits(max_open_positions=1), sizing=SizingPolicy(),
        reservations=RedisReservations(client),
    )  # fmt: skip
    # a worker approved an ETH entry and was killed before its bracket was on record
    RedisReservations(client).reserve("default", 0, reservation("dead"), NOW)
    signals = SqlSignalStore(engine)
    try:
        for number, at in enumerate([NOW, NOW + RESERVATION_TTL]):
            clock.at = at
            signal_id = f"01JX5Z3K8Q4W2N7R9T1V3B5C{number:02d}"
            record = SignalRecord(signal_id, at, SignalStatus.QUEUED, alert(alert_id=signal_id),
                                  "native", signal_id)  # fmt: skip
            signals.add_many([record])
            status = await executor.execute(signal_id)
            shown = signals.get(signal_id)
            assert shown is not None
            decision = next(s.detail for s in shown.history if s.status == "decision")
            if at == NOW:
                assert status is SignalStatus.DENIED
                assert "1 positions are open (1 of them entries not filled yet)" in (decision or "")
            else:  # its reservation expired: the slot is free again
                assert status is SignalStatus.EXECUTED, decision
        assert RedisReservations(client).read("default", clock.at).entries == ()  # released
    finally:
        client.close()
        engine.dispose()


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
def test_the_account_is_read_in_one_view_of_the_book_while_an_entry_fills(
    database: str, request: pytest.FixtureRequest
) -> None:
    """A resting entry that fills between two of the read's statements is counted once:
    resting, or held, never both and never neither."""
    url = request.getfixturevalue(database)
    engine, writer = make_engine(url), make_engine(url)
    resting = replace(entry("0", OrderState.ACCEPTED), kind=OrderKind.LIMIT, price=D(100),
                      average_price=None)  # fmt: skip
    bracket = long(resting)
    filled = replace(bracket, state=BracketState.OPEN, orders=(entry("0.010"),))
    store = SqlExecutionStore(engine)
    store.save_bracket(bracket, NOW)
    fired: list[str] = []

    def fill_meanwhile(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not fired and "holdings" in statement:  # the read is under way: the entry fills
            fired.append(statement)
            SqlExecutionStore(writer).save_bracket(filled, NOW)

    sqlalchemy.event.listen(engine, "before_cursor_execute", fill_meanwhile)
    try:
        state = store.account_state("default", "BTC/USDT", NOW)
        assert fired
        held = sum((h.position for h in state.holdings), D(0))
        assert (held, [e.bracket_id for e in state.resting]) in [
            (D(0), [bracket.id]),  # as it was when the read began
            (D("0.010"), []),  # as it is now
        ]
        after = store.account_state("default", "BTC/USDT", NOW)
        assert (after.holdings[0].position, after.resting) == (D("0.010"), ())
    finally:
        engine.dispose()
        writer.dispose()


class CountingPool(redis.ConnectionPool):
    """Counts the round trips made through it: one connection taken per command or pipeline."""

    taken = 0

    def get_connection(self, *args: object, **kwargs: object) -> redis.connection.Connection:
        self.taken += 1
        return super().get_connection(*args, **kwargs)  # type: ignore[arg-type]


def test_a_release_is_sent_ahead_of_the_next_read_or_reservation_in_its_round_trip(
    redis_url: str,
) -> None:
    pool = CountingPool.from_url(redis_url)
    client, other = redis.Redis(connection_pool=pool), redis.Redis.from_url(redis_url)
    reservations, elsewhere = RedisReservations(client), RedisReservations(other)
    try:
        assert reservations.reserve("main", 0, reservation("a"), NOW) is None
        assert reservations.reserve("main", 1, reservation("b"), NOW) is None
        before = pool.taken
        reservations.release("main", "a")
        assert pool.taken == before  # kept back
        assert [e.id for e in elsewhere.read("main", NOW).entries] == ["a", "b"]
        assert reservations.read("main", NOW) == Reserved(2, (reservation("b"),))
        assert pool.taken == before + 1  # the release and the read: one round trip

        reservations.release("main", "b")
        assert reservations.reserve("main", 2, reservation("c"), NOW) is None
        assert pool.taken == before + 2
        assert elsewhere.read("main", NOW) == Reserved(3, (reservation("c"),))

        reservations.release("main", "c")
        client.script_flush()  # a restarted Redis has no script: loaded again, reserved
        assert reservations.reserve("main", 3, reservation("d"), NOW) is None
        assert elsewhere.read("main", NOW) == Reserved(4, (reservation("d"),))

        reservations.release("main", "d")
        reservations.send_releases()  # a job's end
        assert elsewhere.read("main", NOW) == Reserved(4, ())
        taken = pool.taken
        reservations.send_releases()
        assert pool.taken == taken  # nothing kept back: nothing sent
    finally:
        client.close()
        other.close()
        pool.disconnect()


def test_a_process_tells_its_own_reservations_from_another_process(redis_url: str) -> None:
    client, other = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    reservations, elsewhere = RedisReservations(client), RedisReservations(other)
    try:
        assert reservations.reserve("main", 0, reservation("a"), NOW) is None
        assert reservations.reserve("main", 1, reservation("b"), NOW) is None
        refused = reservations.reserve("main", 0, reservation("c"), NOW)
        assert refused is not None
        assert reservations.taken_since("main", 0, refused.version) == (
            reservation("a"),
            reservation("b"),
        )
        assert elsewhere.reserve("main", 2, reservation("x"), NOW) is None
        refused = reservations.reserve("main", 1, reservation("c"), NOW)
        assert refused is not None
        assert reservations.taken_since("main", 1, refused.version) is None  # x is another's
        assert elsewhere.taken_since("main", 2, 3) == (reservation("x"),)

        client.flushdb()  # Redis lost its data: the versions begin again, made by others
        assert elsewhere.reserve("main", 0, reservation("y"), NOW) is None
        assert reservations.read("main", NOW).version == 1  # below its own: forgotten
        assert reservations.reserve("main", 1, reservation("c"), NOW) is None
        assert reservations.taken_since("main", 1, 2) == (reservation("c"),)
        assert reservations.taken_since("main", 0, 2) is None  # version 1 is y's, not a's
    finally:
        client.close()
        other.close()


def _removed_by_filters(plan: dict[str, Any]) -> int:
    """The rows the plan's nodes read and then filtered out, in all."""
    removed = int(plan.get("Rows Removed by Filter", 0))
    return removed + sum(_removed_by_filters(node) for node in plan.get("Plans", ()))


@pytest.mark.postgres
def test_resting_entries_are_found_by_the_index_not_among_every_filled_entry(
    postgres_url: str,
) -> None:
    """The account's open entry orders are looked up by the index on account, leg and state:
    the filled entries of its open brackets (one per position held, growing with each) are not
    read and filtered out one by one, as an OR of state comparisons had PostgreSQL do."""
    engine = make_engine(postgres_url)
    store = SqlExecutionStore(engine)
    try:
        for n in range(40):
            filled = replace(entry(), client_order_id=f"e{n}")
            store.save_bracket(replace(long(filled), id=f"f{n}", state=BracketState.OPEN), NOW)
        for bracket in _resting_brackets()[:3]:
            store.save_bracket(bracket, NOW)  # type: ignore[arg-type]
        query = open_entry_orders().params(account="default")
        sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("ANALYZE orders"))
            conn.execute(sqlalchemy.text("SET LOCAL enable_seqscan = off"))
            plan = conn.execute(sqlalchemy.text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")).scalar()
            found = conn.execute(query).all()
        assert len(found) == 3
        assert _removed_by_filters(plan[0]["Plan"]) == 0
    finally:
        engine.dispose()
