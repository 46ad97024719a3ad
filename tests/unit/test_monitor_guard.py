"""The bracket monitor's loop survives any failed round, records each finished one, and acts on no
bracket once its lease lapsed."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from app.domain.brackets.bracket import BracketState
from tests.unit.test_execution import World, alert

pytestmark = pytest.mark.anyio


class Beats:
    def __init__(self) -> None:
        self.count = 0

    async def beat(self) -> None:
        self.count += 1


async def test_a_round_that_fails_is_logged_counted_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World(a="99990x1|100000x1")
    signal_id = await world.send(alert())
    failures: list[BaseException] = [RedisConnectionError("Redis went away"), KeyError("a bug")]
    read = world.store.open_bracket_versions

    def flaky() -> dict[str, object]:
        if failures:
            raise failures.pop(0)
        return read()

    world.store.open_bracket_versions = flaky  # type: ignore[method-assign]
    beats = Beats()
    world.monitor.heartbeat = beats
    world.monitor.interval_seconds = 0.001
    world.monitor.max_backoff_seconds = 0.01
    world.move("a", "110000x1", "110010x1")  # the target is reached: the monitor must act
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, "signalgate.monitor"):
        task = asyncio.create_task(world.monitor.run(stop))
        for _ in range(1000):
            if world.store.brackets[signal_id].state is BracketState.CLOSED and beats.count:
                break
            await asyncio.sleep(0.005)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert world.store.brackets[signal_id].state is BracketState.CLOSED
    assert world.monitor.failed_rounds == 2
    assert beats.count >= 1  # only finished rounds beat
    logged = [r for r in caplog.records if "the round failed" in r.getMessage()]
    assert len(logged) == 2
    assert all(r.exc_info is not None for r in logged)  # with the traceback


async def test_a_round_that_fails_does_not_beat() -> None:
    world = World(a="99990x1|100000x1")
    beats = Beats()
    world.monitor.heartbeat = beats

    def broken() -> dict[str, object]:
        raise RuntimeError("a bug")

    world.store.open_bracket_versions = broken  # type: ignore[method-assign]
    assert await world.monitor.guarded_round() is False
    assert (beats.count, world.monitor.failed_rounds) == (0, 1)


async def test_a_monitor_whose_lease_lapsed_acts_on_no_bracket() -> None:
    world = World(a="99990x1|100000x1")
    signal_id = await world.send(alert())
    world.move("a", "110000x1", "110010x1")
    beats = Beats()
    world.monitor.heartbeat = beats
    world.monitor.active = lambda: False
    assert await world.monitor.guarded_round() is True
    assert world.store.brackets[signal_id].state is BracketState.OPEN
    assert beats.count == 0  # a standby's rounds are not the monitor's heartbeat
    world.monitor.active = lambda: True
    assert await world.monitor.run_once() == 1
    assert world.store.brackets[signal_id].state is BracketState.CLOSED
