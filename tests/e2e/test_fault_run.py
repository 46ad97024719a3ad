"""The fault run (issue 13, Acceptance): 200 alerts on three symbols through the Procfile's
processes (web, the forwarder, two workers, the monitor) trading on a local Binance spot API
through unmodified ccxt, while a worker is SIGKILLed during a create, the monitor and the other
worker are SIGKILLed, and Redis is SIGKILLed; each is started again, as the platform would.

The fake venue runs in this test's process, so it outlives every process the run kills and keeps
its state. At the end the venue and signalgate's book must agree: the same open orders, the coins
the open brackets hold, no order of signalgate's that no open bracket owns, no entry sent twice,
a stop-loss resting for every open position, and every signal settled. The run leaves what it
saw in `run.json` beside the processes' logs in its tmp_path."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.adapters.redis.server import free_port
from tests.e2e.conftest import SECRET, TOKEN, wait_until_up
from tests.e2e.faults import (
    CLI,
    SYMBOLS,
    Alert,
    PrivateRedis,
    Supervisor,
    alerts,
    fresh_database,
)
from tests.fake_binance import OPEN_STATES, FakeBinance, RunningFake, serve_fake_binance

ALERTS = 200
QUIET_BOUND = 90.0  # seconds for the processes to settle after the last alert: a hang, not a speed
FINAL = {"executed", "denied", "expired", "failed", "filtered", "stale", "duplicate"}
IN_FLIGHT = {"submitted", "unknown", "cancel_pending"}
START = {"USDT": Decimal(1_000_000), "BTC": Decimal("0.5"), "ETH": Decimal(2), "SOL": Decimal(10)}


@pytest.fixture
def venue() -> Iterator[RunningFake]:
    balances = {asset: [amount, Decimal(0)] for asset, amount in START.items()}
    with serve_fake_binance(FakeBinance(balances=balances)) as running:
        yield running


class Api:
    def __init__(self, base: str) -> None:
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def pages(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        before = None
        while True:
            page = self.get(path, limit=500, **params, **({"before": before} if before else {}))
            found += page[key]
            before = page["next"]
            if not before:
                return found

    def signals(self) -> list[dict[str, Any]]:
        return self.pages("/signals", "signals", strategy="fault-run")

    def open_orders(self) -> dict[str, dict[str, Any]]:
        return {o["client_order_id"]: o for o in self.pages("/orders", "orders", open="true")}


def walk_prices(fake: FakeBinance, stop: threading.Event, seed: int = 7) -> None:
    """A random walk of each book, within 2.5% of its start, so that stops and targets fire and
    resting limit entries fill."""
    rng = random.Random(seed)
    start = {s: (b + a) / 2 for s, (b, a) in fake.books.items()}
    mids = dict(start)
    tick = Decimal("0.01")
    while not stop.wait(0.3):
        for symbol, last in mids.items():
            moved = last * (1 + Decimal(str(rng.gauss(0, 0.003))))
            low, high = start[symbol] * Decimal("0.975"), start[symbol] * Decimal("1.025")
            mid = mids[symbol] = min(max(moved, low), high)
            half = mid * Decimal("0.0002")
            fake.set_price(symbol, (mid - half).quantize(tick), (mid + half).quantize(tick))


def venue_open(fake: FakeBinance) -> dict[str, dict[str, Any]]:
    return {o["clientOrderId"]: o for o in fake.order_book() if o["status"] in OPEN_STATES}


def signal_of(client_order_id: str) -> str:
    return client_order_id[2:28]  # sg<signal id, 26><leg, 2><index><revision>


def leg_of(client_order_id: str) -> str:
    return client_order_id[28:30]


def test_the_venue_and_the_book_agree_after_kills_and_a_redis_restart(
    tmp_path: Path, venue: RunningFake
) -> None:
    fake = venue.venue
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    port = free_port()
    with fresh_database(tmp_path) as database:
        env = {
            **os.environ,
            "PORT": str(port),
            "REDIS_URL": redis.url,
            "DATABASE_URL": database,
            "WEBHOOK_SECRET": SECRET,
            "API_TOKEN": TOKEN,
            "LOG_LEVEL": "INFO",
            "TRADING_MODE": "testnet",
            "VENUES": "binance",
            "BINANCE_MODE": "testnet",
            "BINANCE_API_KEY": fake.api_key,
            "BINANCE_API_SECRET": fake.secret,
            "BINANCE_API_URL": venue.url,
            "SYMBOLS": ",".join(unified for _, unified, _ in SYMBOLS.values()),
            # loose limits: the run is about faults, not the risk gate
            "ENTRY_POLICY": "add",
            "MAX_ORDER_NOTIONAL": "100000",
            "MAX_TOTAL_EXPOSURE": "10000000",
            "MAX_OPEN_POSITIONS": "1000",
            "MAX_DAILY_LOSS": "1000000",
            "MAX_ORDERS_PER_MINUTE": "100000",
            "STOP_LOSS_COOLDOWN_SECONDS": "0",
            "RATE_LIMIT_PER_MINUTE": "100000",
        }
        subprocess.run([*CLI, "migrate"], env=env, check=True, capture_output=True)
        supervisor = Supervisor(env, tmp_path)
        stop_walk = threading.Event()
        walker = threading.Thread(target=walk_prices, args=(fake, stop_walk), daemon=True)
        api = Api(f"http://127.0.0.1:{port}")
        try:
            web = supervisor.add("web", "serve", "--host", "127.0.0.1", "--no-forwarder")
            assert web.process is not None
            wait_until_up(f"http://127.0.0.1:{port}", web.process)
            supervisor.add("forwarder", "forward")
            for name in ("worker-1", "worker-2", "monitor"):
                supervisor.add(name, name.split("-")[0])
            mids = {s: (b + a) / 2 for s, (b, a) in fake.books.items()}
            walker.start()
            run = run_alerts(api, alerts(ALERTS, SECRET, mids), supervisor, redis, venue)
            stop_walk.set()
            walker.join()
            quiet = settle(api, fake, supervisor)
            End.read(api, fake, run, supervisor, quiet).check(tmp_path / "run.json")
        finally:
            stop_walk.set()
            api.client.close()
            supervisor.stop()
            redis.stop()


@dataclass(frozen=True)
class Run:
    answers: dict[int, dict[str, Any]]  # by alert number
    lost_answer: str | None  # the create whose sender was killed as it reached the venue
    dropped: str | None  # the create that never reached the venue, its sender killed


def run_alerts(
    api: Api, planned: list[Alert], supervisor: Supervisor, redis: PrivateRedis, venue: RunningFake
) -> Run:
    """Send every alert, about five a second, with the faults at fixed points of the run."""
    venue_port = int(venue.url.rsplit(":", 1)[1])
    killed: list[str] = []
    lost: list[str] = []  # the client id of the create whose sender was killed

    def kill_the_sender() -> None:
        # runs in the venue's request thread before it handles a create: the order is made and
        # the worker that sent it never hears the answer; a create of the monitor's is let
        # through and the next one waited for
        client = venue.venue.client()
        sender = supervisor.sender(client, venue_port) if client else None
        if sender is not None and sender.startswith("worker"):
            supervisor.kill(sender)
            killed.append(sender)
            lost.append(venue.venue.creating() or "")
        else:
            venue.venue.before_next("POST", "/api/v3/order", kill_the_sender)

    dropped: list[str] = []  # the client id of the create that never reached the venue

    def start_if_down(name: str) -> None:
        process = supervisor.processes[name].process
        if process is None or process.poll() is not None:
            supervisor.start(name)

    def drop_and_kill_the_sender() -> None:
        # the same, but the request is lost on its way (a 503 from the venue's edge, before any
        # API code): the order is on record, unknown, and the venue never has it; the sender is
        # killed, so nothing answers for it but the lookups after the request expiry
        client = venue.venue.client()
        sender = supervisor.sender(client, venue_port) if client else None
        if sender is not None and sender.startswith("worker"):
            venue.venue.drop_current()
            supervisor.kill(sender)
            dropped.append(venue.venue.creating() or "")
            threading.Timer(3.0, start_if_down, args=(sender,)).start()  # as a platform would
        else:
            venue.venue.before_next("POST", "/api/v3/order", drop_and_kill_the_sender)

    def start_the_killed_worker() -> None:
        if not killed:  # no worker sent a create meanwhile: kill one anyway
            venue.venue.hooks.clear()
            supervisor.kill("worker-1")
            killed.append("worker-1")
        supervisor.start(killed[0])

    def other_worker() -> str:
        return "worker-2" if killed[0] == "worker-1" else "worker-1"

    schedule: dict[int, Callable[[], object]] = {
        25: lambda: venue.venue.before_next("POST", "/api/v3/order", kill_the_sender),
        45: start_the_killed_worker,
        50: lambda: venue.venue.before_next("POST", "/api/v3/order", drop_and_kill_the_sender),
        60: lambda: supervisor.kill("monitor"),
        80: lambda: supervisor.start("monitor"),
        100: redis.kill,
        115: redis.start,
        140: lambda: supervisor.kill(other_worker()),
        150: lambda: start_if_down(other_worker()),
    }
    answers: dict[int, dict[str, Any]] = {}
    for alert in planned:
        if (fault := schedule.get(alert.number)) is not None:
            fault()
        supervisor.revive()
        response = api.client.post("/webhook", json=alert.body)
        answers[alert.number] = {"code": response.status_code, **response.json()}
        time.sleep(0.15)
    return Run(answers, lost[0] if lost else None, dropped[0] if dropped else None)


def settle(api: Api, fake: FakeBinance, supervisor: Supervisor) -> float:
    """Wait (at most QUIET_BOUND) until every signal is final, no order is in flight, the venue's
    open orders are the book's, and nothing changed for two probes in a row; the wait."""
    started = time.monotonic()
    previous = None
    while time.monotonic() - started < QUIET_BOUND:
        supervisor.revive()
        statuses = tuple(sorted((s["id"], s["status"]) for s in api.signals()))
        book = api.open_orders()
        on_venue = tuple(sorted(venue_open(fake)))
        positions = tuple(sorted((p["bracket_id"], p["amount"]) for p in api.get("/positions")))
        now = (statuses, tuple(sorted((c, o["state"]) for c, o in book.items())), on_venue,
               positions)  # fmt: skip
        done = (
            all(status in FINAL for _, status in statuses)
            and not any(o["state"] in IN_FLIGHT for o in book.values())
            and set(book) == set(on_venue)
        )
        if done and now == previous:
            return time.monotonic() - started
        previous = now
        time.sleep(1.0)
    return time.monotonic() - started


@dataclass
class End:
    """What the run left, read from the API and the venue once it settled."""

    run: Run
    signals: list[dict[str, Any]]
    book_open: dict[str, dict[str, Any]]
    on_venue: dict[str, dict[str, Any]]
    positions: list[dict[str, Any]]
    fake: FakeBinance
    lineages: list[dict[str, Any]]
    deaths: dict[str, list[int]]  # exit codes of the processes that exited unasked
    summary: str

    @classmethod
    def read(
        cls,
        api: Api,
        fake: FakeBinance,
        run: Run,
        supervisor: Supervisor,
        quiet: float,
    ) -> End:
        signals = api.signals()
        book_open = api.open_orders()
        on_venue = venue_open(fake)
        positions = api.get("/positions")
        codes = Counter(f"{a['code']} {a['status']}" for a in run.answers.values())
        deaths = {n: p.exited for n, p in supervisor.processes.items() if p.exited}
        filled = Counter(leg_of(o["clientOrderId"]) for o in fake.order_book()
                         if o["status"] == "FILLED")  # fmt: skip
        summary = (
            f"answers {dict(codes)}; signals {dict(Counter(s['status'] for s in signals))}; "
            f"settled in {quiet:.0f} s; open orders: book {len(book_open)}, venue "
            f"{len(on_venue)}; positions {len(positions)}; creates {len(fake.creates)}; "
            f"filled on the venue, by leg {dict(filled)}; "
            f"killed { ({n: p.killed for n, p in supervisor.processes.items()}) }; "
            f"exited unasked (and started again) {deaths}; lost answer {run.lost_answer}"
        )
        print(summary)  # the run's figures, shown with -s
        lineages = [api.get(f"/signals/{s['id']}") for s in signals]
        return cls(run, signals, book_open, on_venue, positions, fake, lineages, deaths, summary)

    def check(self, dump: Path) -> None:
        """Every acceptance check, failed together; what the run left is written to `dump`."""
        problems = self.problems()
        dump.write_text(
            json.dumps(
                {
                    "summary": self.summary,
                    "signals": self.lineages,
                    "venue": self.fake.order_book(),
                    "creates": self.fake.creates,
                    "requests": Counter(f"{m} {p}" for m, p in self.fake.requests),
                    "balances": self.fake.balances,
                    "positions": self.positions,
                },
                default=str,
                indent=1,
            )
        )
        where = f"(the run: {dump})"
        assert not problems, "\n".join([*problems, self.summary, where])

    def problems(self) -> list[str]:
        found = []
        answers, signals, fake = self.run.answers, self.signals, self.fake
        book_open = self.book_open
        on_venue, positions = self.on_venue, self.positions

        # every alert was kept (202) or recognised as a repeat (200 duplicate)
        if odd := {n: a for n, a in answers.items() if a["code"] not in (200, 202)}:
            found.append(f"alerts answered neither 202 nor 200: {odd}")
        if odd := {n: a for n, a in answers.items() if a["code"] == 200 and
                   a["status"] != "duplicate"}:  # fmt: skip
            found.append(f"alerts answered 200 but not as duplicates: {odd}")
        accepted = {a["signal_id"] for a in answers.values() if a["code"] == 202}
        listed = {s["id"] for s in signals if s["status"] != "duplicate"}
        if listed != accepted:
            found.append(f"accepted but not listed: {accepted - listed}; not accepted: "
                         f"{listed - accepted}")  # fmt: skip

        # no process died of the faults it was not dealt (the supervisor started it again)
        if self.deaths:
            found.append(f"processes that exited unasked: {self.deaths}")

        # the create whose sender was killed was found again by client order id
        if (lost := self.run.lost_answer) is not None:
            orders = [o for s in self.lineages for o in s["orders"] if o["client_order_id"] == lost]
            if [o["state"] for o in orders if o["state"] not in IN_FLIGHT] == []:
                found.append(f"the create {lost} whose sender was killed is not known: {orders}")

        # the create that never reached the venue was settled as gone after the request expiry,
        # never sent again
        if (gone := self.run.dropped) is None:
            found.append("no worker sent a create after alert 50 to be dropped")
        else:
            orders = [o for s in self.lineages for o in s["orders"] if o["client_order_id"] == gone]
            if [o["state"] for o in orders] != ["expired"]:
                found.append(f"the create {gone} that never reached the venue: {orders}")
            if fake.creates.count(gone) != 1:
                found.append(f"the create {gone} was sent {fake.creates.count(gone)} times")

        # (1) every signal is settled, and a close reported failed left a bracket open
        if unsettled := {s["id"]: s["status"] for s in signals if s["status"] not in FINAL}:
            found.append(f"signals not settled: {unsettled}")
        still_open = {p["bracket_id"] for p in positions} | {signal_of(c) for c in self.book_open}
        # a bracket whose entry was in doubt when the close came, settled as gone since: open
        # then (it might have held coins), final now (it held none)
        still_open |= {s["id"] for s in self.lineages
                       if any(h["status"] == "doubt_resolved" for h in s["history"])}  # fmt: skip
        for s in signals:
            if s["status"] == "failed" and (named := re.search(r"still open: ([^(]*)",
                                                               s["reason"] or "")):  # fmt: skip
                if wrong := {b.strip() for b in named[1].split(",")} - still_open:
                    found.append(f"close {s['id']} failed, naming brackets now final: {wrong}")
            elif s["status"] == "failed":
                found.append(f"signal {s['id']} failed: {s['reason']}")

        # (2) the venue's open orders are the book's, and the coins what open brackets hold
        if set(on_venue) != set(book_open):
            found.append(f"open on the venue only: {sorted(set(on_venue) - set(book_open))}; "
                         f"in the book only: {sorted(set(book_open) - set(on_venue))}")  # fmt: skip
        if busy := {c: o["state"] for c, o in book_open.items() if o["state"] in IN_FLIGHT}:
            found.append(f"orders still in flight: {busy}")
        for venue_symbol, unified, _ in SYMBOLS.values():
            asset = unified.split("/")[0]
            free, locked = fake.balances[asset]
            held = sum((Decimal(p["amount"]) for p in positions if p["symbol"] == unified),
                       Decimal(0))  # fmt: skip
            if free + locked - START[asset] != held:
                found.append(f"{venue_symbol}: the venue holds {free + locked - START[asset]} "
                             f"{asset} for signalgate, its open brackets {held}")  # fmt: skip

        # (3) no orphan: every order of signalgate's resting on the venue belongs to a bracket
        # still open (a position, or an entry still resting)
        owners = {p["bracket_id"] for p in positions} | {
            signal_of(c) for c in on_venue if leg_of(c) == "en"
        }
        if orphans := [c for c in on_venue if not c.startswith("sg") or signal_of(c) not in owners]:
            found.append(f"orphan orders resting: {orphans}")

        # (4) no entry sent twice: one create request per entry id, one venue order per client
        # id, at most one filled entry per signal
        sent = Counter(fake.creates)
        if twice := {c: n for c, n in sent.items() if n > 1 and leg_of(c) == "en"}:
            found.append(f"entries sent more than once: {twice}")
        every = fake.order_book()
        if twice := {c: n for c, n in Counter(o["clientOrderId"] for o in every).items() if n > 1}:
            found.append(f"client order ids the venue holds more than once: {twice}")
        entries = [o for o in every if leg_of(o["clientOrderId"]) == "en"]
        filled = Counter(
            signal_of(o["clientOrderId"]) for o in entries if Decimal(o["executedQty"])
        )
        if twice := {s: n for s, n in filled.items() if n > 1}:
            found.append(f"signals with more than one filled entry: {twice}")

        # (5) every open position has its stop-loss resting on the venue, whole, at its price
        for position in positions:
            stops = [o for c, o in on_venue.items()
                     if signal_of(c) == position["bracket_id"] and leg_of(c) == "sl"]  # fmt: skip
            if not (
                position["stop_loss"] is not None
                and len(stops) == 1
                and stops[0]["type"] == "STOP_LOSS"
                and Decimal(stops[0]["origQty"]) == Decimal(position["amount"])
                and Decimal(stops[0]["stopPrice"]) == Decimal(position["stop_loss"])
            ):
                found.append(f"position without its stop-loss resting: {position}; {stops}")
        return found
