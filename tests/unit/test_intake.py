from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import anyio
import msgspec
import pytest

from app.domain.signals import Action, IntakePolicy, Signal, SignalStatus
from app.services.intake import Forwarder, Intake, drain_spool, forward
from tests.fakes import (
    FakeClock,
    FakeHeartbeat,
    FakeInbox,
    FakeQueue,
    FakeStore,
    SequentialIds,
)

pytestmark = pytest.mark.anyio

BUY = Signal(
    symbol="BTC/USDT", action=Action.BUY, source="tradingview:native", quantity=Decimal("0.5")
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def inbox(clock: FakeClock) -> FakeInbox:
    return FakeInbox(clock)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


def make_intake(inbox: FakeInbox, store: FakeStore, clock: FakeClock, **policy: object) -> Intake:
    return Intake(inbox, store, clock, SequentialIds(), IntakePolicy(**policy))  # type: ignore[arg-type]


async def submit(intake: Intake, signal: Signal = BUY) -> tuple[str, str | None, str | None]:
    result = await intake.submit(signal, dialect="native", payload={"symbol": "BTCUSDT"})
    return result.status, result.signal_id, result.reason


async def test_accepted_signal_is_queued_and_forwarded_once(inbox, store, clock, queue):
    intake = make_intake(inbox, store, clock)
    status, signal_id, _ = await submit(intake)
    assert status == "queued"
    assert forward(inbox, store, queue) == 1
    assert queue.jobs == [signal_id]
    assert store.rows[signal_id].status is SignalStatus.QUEUED
    assert forward(inbox, store, queue) == 0  # acknowledged: not forwarded again


async def test_copy_of_an_alert_is_a_duplicate_of_the_first(inbox, store, clock, queue):
    intake = make_intake(inbox, store, clock)
    _, first, _ = await submit(intake)
    status, signal_id, reason = await submit(intake)
    assert (status, signal_id) == ("duplicate", first)
    assert reason
    forward(inbox, store, queue)
    assert queue.jobs == [first]
    duplicates = [r for r in store.rows.values() if r.status is SignalStatus.DUPLICATE]
    assert [d.duplicate_of for d in duplicates] == [first]


async def test_digest_dedupe_expires_after_the_window(inbox, store, clock):
    intake = make_intake(inbox, store, clock, dedupe_window_seconds=60)
    await submit(intake)
    clock.advance(61)
    status, _, _ = await submit(intake)
    assert status == "queued"


async def test_alert_id_dedupes_for_the_id_window(inbox, store, clock):
    intake = make_intake(
        inbox, store, clock, dedupe_window_seconds=60, dedupe_id_window_seconds=3600
    )
    with_id = msgspec.structs.replace(BUY, alert_id="tv-1")
    await submit(intake, with_id)
    clock.advance(600)
    status, _, _ = await submit(intake, msgspec.structs.replace(with_id, quantity=Decimal(1)))
    assert status == "duplicate"


@pytest.mark.parametrize(
    ("confidence", "threshold", "expected"),
    [(None, 0.6, "queued"), (0.9, 0.6, "queued"), (0.6, 0.6, "queued"), (0.59, 0.6, "filtered")],
)
async def test_confidence_threshold(inbox, store, clock, queue, confidence, threshold, expected):
    intake = make_intake(inbox, store, clock, confidence_threshold=threshold)
    status, signal_id, reason = await submit(
        intake, msgspec.structs.replace(BUY, confidence=confidence)
    )
    assert status == expected
    forward(inbox, store, queue)
    assert signal_id in store.rows  # filtered signals are recorded too
    assert (signal_id in queue.jobs) == (expected == "queued")
    if expected == "filtered":
        assert "below the threshold" in (reason or "")


async def test_per_strategy_threshold_and_required_confidence(inbox, store, clock):
    intake = make_intake(
        inbox,
        store,
        clock,
        strategy_thresholds={"strict": 0.95},
        confidence_required=frozenset({"needs"}),
    )
    strict = msgspec.structs.replace(BUY, strategy="strict", confidence=0.9)
    assert (await submit(intake, strict))[0] == "filtered"
    bare = msgspec.structs.replace(BUY, strategy="needs")
    status, _, reason = await submit(intake, bare)
    assert status == "filtered"
    assert "requires a confidence" in (reason or "")


@pytest.mark.parametrize(
    ("age", "max_lag", "expected"),
    [
        (10, None, "queued"),
        (121, None, "stale"),
        (30, 20, "stale"),
        (-5, None, "queued"),
        (-600, None, "stale"),
    ],
)
async def test_staleness(inbox, store, clock, age, max_lag, expected):
    intake = make_intake(inbox, store, clock, max_age_seconds=120)
    signal = msgspec.structs.replace(
        BUY, fired_at=clock.now() - timedelta(seconds=age), max_lag_seconds=max_lag
    )
    assert (await submit(intake, signal))[0] == expected


async def test_rate_limit_per_sender(inbox, store, clock):
    intake = make_intake(inbox, store, clock, rate_limit_per_minute=2)
    for qty in (1, 2):
        assert (await submit(intake, msgspec.structs.replace(BUY, quantity=Decimal(qty))))[
            0
        ] == "queued"
    result = await intake.submit(
        msgspec.structs.replace(BUY, quantity=Decimal(3)), dialect="native"
    )
    assert result.status == "rate_limited"
    assert result.retry_after_seconds
    other = await intake.submit(BUY, dialect="native", sender="someone-else")
    assert other.status == "queued"  # another sender has its own budget


async def test_redis_down_spools_to_the_database_then_requeues(inbox, store, clock, queue):
    intake = make_intake(inbox, store, clock)
    inbox.down = True
    status, signal_id, _ = await submit(intake)
    assert status == "spooled"
    assert store.rows[signal_id].status is SignalStatus.SPOOLED
    # a copy while Redis is still down is caught by the database
    assert (await submit(intake))[:2] == ("duplicate", signal_id)
    inbox.down = False
    assert drain_spool(store, queue, inbox, clock, IntakePolicy()) == 1
    assert queue.jobs == [signal_id]
    assert store.rows[signal_id].status is SignalStatus.QUEUED
    # after the re-queue, a copy through Redis is a duplicate too
    assert (await submit(intake))[:2] == ("duplicate", signal_id)
    assert drain_spool(store, queue, inbox, clock, IntakePolicy()) == 0


async def test_neither_redis_nor_database_is_unavailable(inbox, store, clock):
    intake = make_intake(inbox, store, clock)
    inbox.down = store.down = True
    status, signal_id, reason = await submit(intake)
    assert (status, signal_id) == ("unavailable", None)
    assert "not kept" in (reason or "")


async def test_forward_leaves_entries_for_a_retry_when_the_database_is_down(
    inbox, store, clock, queue
):
    intake = make_intake(inbox, store, clock)
    _, signal_id, _ = await submit(intake)
    store.down = True
    with pytest.raises(Exception, match="database down"):
        forward(inbox, store, queue)
    store.down = False
    assert forward(inbox, store, queue) == 1
    assert queue.jobs == [signal_id]


async def test_forward_is_idempotent_when_acknowledging_fails(inbox, store, clock, queue):
    intake = make_intake(inbox, store, clock)
    await submit(intake)
    entries = inbox.read(10, 0)
    store.add_many([r for _, r in entries])
    queue.enqueue_signals([r for _, r in entries])
    # crash before ack: the next forward repeats both steps without doubling anything
    assert forward(inbox, store, queue) == 1
    assert len(queue.jobs) == 1
    assert len(store.rows) == 1


async def test_forwarder_rides_out_an_outage_and_drains_the_spool(inbox, store, clock, queue):
    intake = make_intake(inbox, store, clock)
    inbox.down = queue.down = True  # one Redis holds both
    _, spooled_id, _ = await submit(intake)  # kept in the database while Redis is away
    forwarder = Forwarder(inbox, store, queue, clock, IntakePolicy(), spool_every_seconds=0.01)
    forwarder.start()
    try:
        await anyio.sleep(0.3)  # the forwarder retries with a backoff meanwhile
        assert queue.jobs == []
        inbox.down = queue.down = False
        _, queued_id, _ = await submit(intake, msgspec.structs.replace(BUY, quantity=Decimal(2)))
        with anyio.fail_after(5):
            while len(queue.jobs) < 2:  # noqa: ASYNC110 - polling another thread's progress
                await anyio.sleep(0.01)
        assert queue.jobs == [spooled_id, queued_id]
        assert {store.rows[i].status for i in queue.jobs} == {SignalStatus.QUEUED}
    finally:
        forwarder.stop()
    assert not forwarder._thread.is_alive()


def test_the_forwarder_lingers_only_while_the_workers_are_behind(inbox, store, clock, queue):
    forwarder = Forwarder(inbox, store, queue, clock, IntakePolicy())
    assert forwarder.linger(0) == 0  # the workers keep up: every alert goes at once
    assert forwarder.linger(1) == pytest.approx(0.02)
    assert forwarder.linger(5) == pytest.approx(0.10)  # further behind: bigger batches
    assert forwarder.linger(1000) == forwarder.most_linger_seconds


async def _until(probe: Callable[[], bool]) -> None:
    with anyio.fail_after(5):
        while not probe():  # noqa: ASYNC110 - polling another thread's progress
            await anyio.sleep(0.01)


async def test_the_forwarder_beats_while_it_goes_round_outages_included(inbox, store, clock, queue):
    heartbeat = FakeHeartbeat()
    forwarder = Forwarder(
        inbox, store, queue, clock, IntakePolicy(), heartbeat=heartbeat, beat_every_seconds=0.02
    )
    forwarder.start()
    try:
        await _until(lambda: heartbeat.beats >= 3)  # idle: the inbox read waits, then again
        inbox.down = queue.down = True  # its backoff waits beat too: alive, only waiting
        beats = heartbeat.beats
        await _until(lambda: heartbeat.beats >= beats + 3)
        heartbeat.down = True  # a beat that cannot be written does not stop the forwarding
        inbox.down = queue.down = False
        await submit(make_intake(inbox, store, clock))
        await _until(lambda: len(queue.jobs) == 1)
    finally:
        forwarder.stop()
    assert not forwarder._thread.is_alive()


def test_the_forwarder_beats_at_most_every_beat_interval(inbox, store, clock, queue):
    heartbeat = FakeHeartbeat()
    forwarder = Forwarder(
        inbox, store, queue, clock, IntakePolicy(), heartbeat=heartbeat, beat_every_seconds=60
    )
    for _ in range(50):  # fifty turns of its loop: one Redis write, not fifty
        forwarder._pause(0)
    assert heartbeat.beats == 1


async def test_a_spooled_copy_of_an_alert_kept_in_redis_is_drained_as_a_duplicate(
    inbox, store, clock, queue
):
    intake = make_intake(inbox, store, clock)
    status, _, _ = await submit(intake)  # kept in Redis; not forwarded yet
    assert status == "queued"
    inbox.down = True
    status, spooled_id, _ = await submit(intake)  # TradingView retried while Redis was away
    assert status == "spooled"
    inbox.down = False

    assert drain_spool(store, queue, inbox, clock, IntakePolicy()) == 1

    assert spooled_id not in queue.jobs
    assert store.rows[spooled_id].status is SignalStatus.DUPLICATE
