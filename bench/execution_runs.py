"""The runs of the execution benchmark: a latency round and a throughput round on fresh stacks."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

import httpx

from bench.execution_results import (
    Outcome,
    forget,
    inbox_length,
    job_times,
    outcomes,
    queued_jobs,
    unfinished,
)
from bench.execution_stack import (
    SECRET,
    SYMBOLS,
    Database,
    MachineCpu,
    PgProxy,
    Stack,
    flush_redis,
)


def alert(run: str, number: int) -> str:
    return json.dumps(
        {
            "symbol": SYMBOLS[number % len(SYMBOLS)],
            "action": "buy",
            "qty": "20",
            "qty_mode": "quote",
            "take_profit": {"percent": 2},
            "stop_loss": {"percent": 1},
            "strategy": "bench",
            "id": f"{run}-{number}",
            "secret": SECRET,
        }
    )


@contextmanager
def stack_for(
    database: str,
    monitor_profile: Path | None = None,
    pg_delay_ms: float | None = None,
    *,
    cpu_clock: bool = False,
) -> Iterator[Stack]:
    """A fresh Redis db, scratch database and work directory; every process ended at the end.
    `pg_delay_ms`: the processes reach PostgreSQL through `bench.pg_proxy` with that delay."""
    workdir = Path(tempfile.mkdtemp(prefix="signalgate-bench-exec-"))
    flush_redis()
    db = Database.create(database, workdir)
    proxy = None if pg_delay_ms is None or database != "postgres" else PgProxy(pg_delay_ms, workdir)
    stack = Stack(workdir, db, monitor_profile=monitor_profile, proxy=proxy, cpu_clock=cpu_clock)
    try:
        db.migrate()
        if proxy is not None:
            proxy.start(db.url)
        yield stack
    finally:
        stack.stop_all()
        if proxy is not None:
            proxy.stop()
        forget(db.url)
        db.drop()
        shutil.rmtree(workdir, ignore_errors=True)


def wait_until(done: Callable[[], bool], stack: Stack, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        stack.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


# --- 1. latency ------------------------------------------------------------------------------


@dataclass
class LatencyRound:
    received_to_fill: list[float]
    sent_to_fill: list[float]
    received_to_final: list[float]
    first_second: list[float]  # the first second's signals: few brackets open yet
    stages: dict[str, list[float]]  # signals queued alone: where the time went
    first_half_p50: float
    second_half_p50: float
    found: list[Outcome]
    not_accepted: int
    database_use: RoundTrips | None = None  # per measured signal, by process


def latency_round(
    stack: Stack, rate: float, seconds: float, run: str, profile: Path | None = None
) -> LatencyRound:
    """`profile`: run the worker under cProfile, dumped there (`Stack.profiled`)."""
    stack.start_service()
    stack.start("worker", python=stack.profiled(profile))
    sent_at: dict[str, datetime] = {}
    not_accepted = 0
    with httpx.Client(base_url=stack.base_url, timeout=5) as client:
        warm = [client.post("/webhook", content=alert(f"warm-{run}", i)) for i in range(10)]
        if refused := [answer for answer in warm if answer.status_code != 202]:
            raise RuntimeError(f"a warm-up alert was answered {refused[0].text}")
        wait_until(lambda: _all_final(stack, len(warm)), stack, 60, "the warm-up signals")
        total = int(rate * seconds)
        before = _counts(stack)
        start = time.monotonic()
        for number in range(total):
            pause = start + number / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            at = datetime.now(UTC)
            answer = client.post("/webhook", content=alert(run, number))
            if answer.status_code != 202:
                not_accepted += 1
                continue
            sent_at[answer.json()["signal_id"]] = at
    ids = list(sent_at)
    wait_until(lambda: _all_final(stack, 10 + len(ids)), stack, 120, "the signals to finish")
    use = _use(stack, before, len(ids))
    if profile is not None:  # the worker writes its profile as it exits
        stack.stop("worker")
    found = outcomes(stack.db.url, ids)
    measured = [o for o in found if o.measured]
    fill_ms = [o.received_to_fill_ms for o in measured]
    jobs = job_times([o.id for o in measured])
    alone = [(o, *jobs[o.id]) for o in measured if o.id in jobs]
    stages = {
        "received -> RQ enqueued (forwarder)": [_ms(o.received_at, q) for o, q, _ in alone],
        "enqueued -> job started (RQ)": [_ms(q, s) for _, q, s in alone],
        "job started -> entry filled": [_ms(s, o.fill_at) for o, _, s in alone if o.fill_at],
        "entry filled -> executed (legs)": [_ms(o.fill_at, o.final_at) for o, _, _ in alone
                                            if o.fill_at],
    }  # fmt: skip
    half = len(measured) // 2
    return LatencyRound(
        received_to_fill=fill_ms,
        sent_to_fill=[o.since_ms(sent_at[o.id]) for o in measured],
        received_to_final=[o.received_to_final_ms for o in measured],
        first_second=fill_ms[: int(rate)],
        stages=stages,
        first_half_p50=median(fill_ms[:half]) if half else 0.0,
        second_half_p50=median(fill_ms[half:]) if half else 0.0,
        found=found,
        not_accepted=not_accepted,
        database_use=use,
    )


def _ms(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() * 1000


def _all_final(stack: Stack, expected: int) -> bool:
    """Every signal of the (fresh) database in a final status, and all `expected` there."""
    total, left = unfinished(stack.db.url)
    return total >= expected and left == 0


# --- 2. throughput -----------------------------------------------------------------------------


@dataclass
class ThroughputRound:
    signals: int
    jobs: int
    submit_seconds: float
    wall_rate: float  # from the worker's start, start-up included
    steady_rate: float  # from the first signal done to the last
    worker_cpu: float  # from the first signal done to the last (start-up apart)
    monitor_cpu: float  # likewise
    found: list[Outcome]
    first_tenth_rate: float
    last_tenth_rate: float
    database_use: RoundTrips | None = None  # per signal, by process: serve while submitting,
    # the worker and the monitor while the worker ran
    machine: MachineCpu | None = None  # from the first signal done to the last
    seconds: float = 0.0  # from the first signal done to the last
    startup_cpu: float = 0.0  # the worker's, until its first signal was done
    measured: int = 0  # the signals done while the CPU figures were measured


async def _submit(base_url: str, run: str, count: int, concurrency: int = 32) -> list[str]:
    numbers = iter(range(count))
    ids: list[str] = []

    async def sender(client: httpx.AsyncClient) -> None:
        for number in numbers:
            answer = await client.post("/webhook", content=alert(run, number))
            if answer.status_code != 202:
                raise RuntimeError(f"alert {number} answered {answer.status_code}: {answer.text}")
            ids.append(answer.json()["signal_id"])

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=10, limits=limits) as client:
        await asyncio.gather(*(sender(client) for _ in range(concurrency)))
    return ids


def throughput_round(stack: Stack, count: int, run: str, profile: Path | None) -> ThroughputRound:
    stack.start_service()
    started, submitting = time.monotonic(), _counts(stack)
    ids = asyncio.run(_submit(stack.base_url, run, count))
    wait_until(
        lambda: inbox_length() == 0 and unfinished(stack.db.url)[0] == count,
        stack, 120, "the forwarder to keep every alert in SQL and queue it",
    )  # fmt: skip
    submit_seconds = time.monotonic() - started
    submitted = _use(stack, submitting, count)
    running = _counts(stack)
    jobs = queued_jobs()
    python = stack.profiled(profile)
    worker_started = datetime.now(UTC)
    stack.start("worker", "--burst", python=python)
    # the CPU of the signals, measured from the first one done: the worker's start-up (imports,
    # its pool and venues: about a second of CPU) is counted apart
    wait_until(lambda: _done(stack) > 0, stack, 120, "the worker's first signal")
    startup_cpu, monitor_cpu = stack.cpu_seconds("worker"), stack.cpu_seconds("monitor")
    machine, done_before = MachineCpu.now(), _done(stack)
    wait_until(lambda: _all_final(stack, count), stack, 1800, "the worker to execute every signal")
    worker_cpu = stack.cpu_seconds("worker") - startup_cpu
    monitor_cpu = stack.cpu_seconds("monitor") - monitor_cpu
    machine = MachineCpu.now().since(machine)
    use = _use(stack, running, count)
    stack.wait_exit("worker", 60)  # a profiled worker writes its profile as it exits
    found = outcomes(stack.db.url, ids)
    done = sorted(o.final_at for o in found)
    steady = _rate(done)
    wall = len(done) / max((done[-1] - worker_started).total_seconds(), 1e-9)
    tenth = max(len(done) // 10, 1)
    if use is not None and submitted is not None:
        use["serve"] = submitted["serve"]
    measured_from = done[done_before - 1] if done_before else worker_started
    seconds = (done[-1] - measured_from).total_seconds()
    return ThroughputRound(count, jobs, submit_seconds, wall, steady, worker_cpu, monitor_cpu,
                           found, _rate(done[:tenth]), _rate(done[-tenth:]), use, machine,
                           seconds, startup_cpu, count - done_before)  # fmt: skip


def _done(stack: Stack) -> int:
    """How many signals of the (fresh) database are in a final status."""
    total, left = unfinished(stack.db.url)
    return total - left


def _rate(done: list[datetime]) -> float:
    return (len(done) - 1) / max((done[-1] - done[0]).total_seconds(), 1e-9)


# --- database round trips (through bench.pg_proxy) ----------------------------------------------


@dataclass(frozen=True)
class Use:
    """One process's database traffic per signal."""

    round_trips: float
    statements: float
    commits: float
    kinds: dict[str, float]  # statements by first word
    texts: dict[str, float]  # statements by text


RoundTrips = dict[str, Use]  # by process: serve (web and forwarder), worker, monitor


def _counts(stack: Stack) -> dict[str, dict[str, Any]] | None:
    return None if stack.proxy is None else stack.proxy.counts()


def _use(stack: Stack, before: dict[str, dict[str, Any]] | None, signals: int) -> RoundTrips | None:
    """Each process's traffic since `before`, per signal."""
    after = _counts(stack)
    if before is None or after is None or not signals:
        return None
    found: RoundTrips = {}
    for name in ("serve", "worker", "monitor"):
        was, now = before[name], after[name]
        kinds = {k: (n - was["statements"].get(k, 0)) / signals
                 for k, n in now["statements"].items()}  # fmt: skip
        texts = {t: (n - was["texts"].get(t, 0)) / signals for t, n in now["texts"].items()}
        found[name] = Use(
            round_trips=(now["round_trips"] - was["round_trips"]) / signals,
            statements=sum(kinds.values()),
            commits=kinds.get("COMMIT", 0.0),
            kinds={k: v for k, v in kinds.items() if v},
            texts={t: v for t, v in sorted(texts.items(), key=lambda i: -i[1]) if v},
        )
    return found
