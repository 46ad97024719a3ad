"""Notifications benchmark: what telling costs a trading process, and how fast the notifier sends.

Prints (1) the time `RqNotifier.notify` takes per event in the caller (it only hands the event to
a thread), with Redis reachable and with Redis unreachable; (2) how fast the thread queues the
jobs; (3) how many messages a second one notifier sends to a local JSON webhook (apprise, RQ
SimpleWorker, the rate limit checked in Redis for each). Run with `make bench`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from statistics import quantiles

import msgspec
import redis

from app.adapters.notify.queue import RqNotifier, notifications_queue
from app.adapters.redis.server import answers, start_embedded
from app.bootstrap.notifier import notifier_runtime, run_notifier
from app.config.notify import NotifySettings
from app.config.settings import Settings
from app.domain.notifications import BracketClosed, parse_routes
from tests.fake_channels import serving  # a local JSON webhook

CLOSED = BracketClosed(
    bracket_id="", venue="paper", symbol="BTC/USDT", side="buy", amount=Decimal("0.01"),
    entry_price=Decimal(65000), exit_price=Decimal(64000), realized_pnl=Decimal("-11.29"),
    fees=Decimal("1.29"), quote="USDT", exits=("sl",),
)  # fmt: skip


def events(count: int) -> list[BracketClosed]:
    return [msgspec.structs.replace(CLOSED, bracket_id=f"01JXBENCH{n:017d}") for n in range(count)]


def hand_over(notifier: RqNotifier, count: int) -> tuple[list[float], float]:
    """Each notify() call's time (µs), and the time until every job is queued (s)."""
    taken = []
    started = time.perf_counter()
    for event in events(count):
        before = time.perf_counter()
        notifier.notify(event)
        taken.append((time.perf_counter() - before) * 1e6)
    notifier.flush(120)
    return taken, time.perf_counter() - started


def show(name: str, micros: list[float]) -> None:
    cuts = quantiles(micros, n=100)
    print(f"  {name}: notify() p50 {cuts[49]:.1f} µs, p99 {cuts[98]:.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--sends", type=int, default=300)
    args = parser.parse_args()
    redis_url, embedded = "redis://127.0.0.1:6379/11", None
    if not answers(redis_url):
        redis_url, embedded = start_embedded(Path(tempfile.mkdtemp(prefix="signalgate-bench-")))
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    routes = parse_routes("", 1)
    try:
        print(f"notifications: {args.events} events handed over, one channel")
        notifier = RqNotifier(client, routes)
        taken, until_queued = hand_over(notifier, args.events)
        notifier.close()
        show("Redis reachable", taken)
        print(f"  every job queued after {until_queued:.2f} s"
              f" ({args.events / until_queued:,.0f} jobs/s by the thread)")  # fmt: skip
        client.flushdb()
        down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        unreachable = RqNotifier(down, routes)
        taken, _ = hand_over(unreachable, min(args.events, 900))
        unreachable.close()
        show("Redis unreachable", taken)

        with serving("json") as hook:
            url = f"json://{hook.url.removeprefix('http://')}/hook"
            settings = Settings(
                redis_url=redis_url,
                log_level="WARNING",
                notify=NotifySettings(
                    urls=(url,), routes=parse_routes("0:closed", 1), per_minute=600
                ),
            )
            notifier = RqNotifier(client, settings.notify.routes)
            for event in events(args.sends):
                notifier.notify(event)
            notifier.close()
            notifier_runtime(settings)
            started = time.perf_counter()
            run_notifier(settings, burst=True)
            elapsed = time.perf_counter() - started
            sent = len(hook.received)
            waiting = len(notifications_queue(client).scheduled_job_registry)
            print(f"notifier: {sent} sent to a local JSON webhook in {elapsed:.2f} s"
                  f" ({sent / elapsed:.0f}/s; {waiting} waiting for their turn under"
                  " NOTIFY_RATE_PER_MINUTE=600)")  # fmt: skip
    finally:
        client.flushdb()
        if embedded is not None:
            embedded.terminate()


if __name__ == "__main__":
    main()
