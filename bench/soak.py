"""Soak benchmark: alerts at a steady rate for minutes through the Procfile's processes.

Starts what the Procfile lists (web with its forwarder, worker, monitor; `release` first) on a
private redis-server and a fresh PostgreSQL database on 127.0.0.1:5432 (dropped at the end),
trading on the paper venue, and sends a seeded mix of alerts (market buys and sells with a
take-profit and a stop-loss, closes, reverses, duplicates, low-confidence ones; signed in the body
or with X-Signature) on three symbols at `--rate` per second: a warm-up, then `--minutes` measured.

Prints each process's memory (RSS, with its children) after the warm-up and at the end (target:
within 10%), Redis's and the database's size, the rate achieved and the backlog, the signals by
final status (with the commonest reasons of those not executed), and the ERROR and CRITICAL lines
every process logged (target: none). The processes' logs stay in bench/results/soak-<time>/.
Run with `make soak` or `python -m bench.soak [--minutes 10] [--rate 100]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median, quantiles

import httpx
import redis
import sqlalchemy

from app.adapters.redis.inbox import STREAM
from bench.soak_alerts import alert
from bench.soak_stack import SECRET, Proc, SoakStack

RESULTS = Path(__file__).resolve().parent / "results"
QUEUE = "rq:queue:signals"
MIB = 1024 * 1024
_NUMBER = re.compile(r"\d+(\.\d+)?")
DRAIN_LIMIT = 600.0  # seconds to wait, after the last alert, for every signal to settle
SENDERS = 64  # alerts in flight at most


@dataclass
class Sample:
    at: float  # seconds since the measured part began (negative: warm-up)
    processes: dict[str, list[Proc]]
    redis_bytes: int
    redis_keys: int
    database_bytes: int
    commits: int  # transactions committed in the database so far (every process's)
    commit_ms: float  # what one commit of a one-row insert took just now
    queued: int  # RQ jobs waiting
    inbox: int  # alerts the forwarder has not moved yet
    pending: int  # signals in SQL not in a final status
    final: int  # signals in SQL in a final status


def _kind(key: str) -> str:
    """`rq:job:signal-01JX...` -> `rq:job:signal-*`: two parts of a key, and what the third
    starts with."""
    parts = key.split(":", 2)
    if len(parts) < 3:
        return key
    third = re.match(r"[a-z_]*-?", parts[2])
    return f"{parts[0]}:{parts[1]}:{third.group() if third else ''}*"


@dataclass
class Tally:
    sent: int = 0
    late: int = 0  # alerts sent more than a second after their time: every sender was busy
    answers: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    latency_ms: list[float] = field(default_factory=list)


class Probe:
    """Reads the state of the run: memory, Redis, the database."""

    def __init__(self, stack: SoakStack) -> None:
        assert stack.db is not None
        self.stack = stack
        self.redis = redis.Redis.from_url(stack.redis_url)
        self.engine = sqlalchemy.create_engine(stack.db.url)
        self.started = time.monotonic()

    def sample(self) -> Sample:
        statuses = "SELECT status IN ('queued', 'spooled'), count(*) FROM signals GROUP BY 1"
        with self.engine.connect() as conn:
            counts = {bool(k): int(n) for k, n in conn.execute(sqlalchemy.text(statuses)).all()}
            size, commits = conn.execute(sqlalchemy.text(
                "SELECT pg_database_size(current_database()), xact_commit FROM pg_stat_database"
                " WHERE datname = current_database()"
            )).one()  # fmt: skip
        return Sample(
            at=time.monotonic() - self.started,
            processes=self.stack.trees(),
            redis_bytes=int(self.redis.info("memory")["used_memory"]),
            redis_keys=int(self.redis.dbsize()),
            database_bytes=int(size),
            commits=int(commits),
            commit_ms=self.commit_ms(),
            queued=int(self.redis.llen(QUEUE)),
            inbox=int(self.redis.xlen(STREAM)),
            pending=int(counts.get(True, 0)),
            final=int(counts.get(False, 0)),
        )

    def commit_ms(self, rounds: int = 20) -> float:
        """A one-row insert and its commit on this database, in ms: the disk's fsync, which
        other users of the machine slow down (0.1 to 4 ms seen here)."""
        with self.engine.connect() as conn:
            conn.execute(sqlalchemy.text("CREATE TEMP TABLE soak_probe (n int)"))
            conn.commit()
            began = time.perf_counter()
            for n in range(rounds):
                conn.execute(sqlalchemy.text("INSERT INTO soak_probe VALUES (:n)"), {"n": n})
                conn.commit()
            elapsed = time.perf_counter() - began
            conn.execute(sqlalchemy.text("DROP TABLE soak_probe"))
            conn.commit()
        return elapsed / rounds * 1000

    def statuses(self) -> list[tuple[str, int]]:
        query = "SELECT status, count(*) FROM signals GROUP BY status ORDER BY 2 DESC"
        with self.engine.connect() as conn:
            return [(str(s), int(n)) for s, n in conn.execute(sqlalchemy.text(query)).all()]

    def reasons(self, limit: int = 8) -> list[tuple[str, str, int]]:
        """The commonest (status, reason) of signals neither executed nor pending, numbers in
        the reasons written N."""
        query = (
            "SELECT status, coalesce(reason, ''), count(*) FROM signals"
            " WHERE status NOT IN ('executed', 'queued', 'spooled') GROUP BY 1, 2"
        )
        with self.engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text(query)).all()
        found: Counter[tuple[str, str]] = Counter()
        for status, reason, n in rows:
            found[str(status), _NUMBER.sub("N", str(reason))] += int(n)
        return [(s, r, n) for (s, r), n in found.most_common(limit)]

    def redis_keys(self, sampled: int = 200) -> list[tuple[str, int, int]]:
        """Redis's keys by kind: how many, and their bytes estimated from the first `sampled`
        of each kind (MEMORY USAGE)."""
        kinds: dict[str, list[bytes]] = {}
        for key in self.redis.scan_iter(count=1000):
            kind = _kind(key.decode(errors="replace"))
            kinds.setdefault(kind, []).append(key)
        found = []
        for kind, keys in kinds.items():
            some = keys[:sampled]
            used = sum(int(self.redis.memory_usage(key) or 0) for key in some)
            found.append((kind, len(keys), used * len(keys) // max(len(some), 1)))
        return sorted(found, key=lambda row: -row[2])

    def rows(self, tables: tuple[str, ...] = ("orders", "paper_orders", "paper_fills")) -> str:
        with self.engine.connect() as conn:
            counts = [
                f"{conn.execute(sqlalchemy.text(f'SELECT count(*) FROM {table}')).scalar_one()}"
                f" {table}"
                for table in tables
            ]
        return ", ".join(counts)

    def settle_times(self) -> list[float]:
        """Seconds from receipt to the final status, of every executed signal."""
        query = "SELECT received_at, updated_at FROM signals WHERE status = 'executed'"
        with self.engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text(query)).all()
        return [(done - received).total_seconds() for received, done in rows]

    def close(self) -> None:
        self.engine.dispose()
        self.redis.close()


async def send(
    client: httpx.AsyncClient, run: str, numbers: range, rate: float, coins: int, tally: Tally
) -> None:
    """Send alerts `numbers` at `rate` per second, each on its due time, from `SENDERS`
    concurrent senders: a slow answer holds back no alert while a sender is free, and when
    none is, alerts go late (counted) instead of piling up in this process."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    schedule = iter(enumerate(numbers))

    async def sender() -> None:
        for index, number in schedule:
            late = loop.time() - (start + index / rate)
            if late < 0:
                await asyncio.sleep(-late)
            elif late > 1:
                tally.late += 1
            made = alert(run, number, SECRET, coins)
            tally.kinds[made.kind] += 1
            tally.sent += 1
            began = loop.time()
            try:
                answer = await client.post("/webhook", content=made.body, headers=made.headers)
            except httpx.HTTPError as error:
                tally.failures[type(error).__name__] += 1
                continue
            tally.latency_ms.append((loop.time() - began) * 1000)
            tally.answers[answer.status_code] += 1

    await asyncio.gather(*(sender() for _ in range(SENDERS)))


async def sample_every(probe: Probe, seconds: float, samples: list[Sample], tally: Tally) -> None:
    answered = 0
    while True:
        await asyncio.sleep(seconds)
        found = await asyncio.to_thread(probe.sample)
        recent = sorted(tally.latency_ms[answered:])
        answered += len(recent)
        p99 = recent[int(len(recent) * 0.99)] if recent else 0.0
        print(f"{progress(samples[-1], found)}  answer p99 {p99:.0f} ms", flush=True)
        probe.stack.check_alive()
        samples.append(found)


def _cpu(tree: list[Proc]) -> float:
    return sum(proc.cpu for proc in tree)


def progress(before: Sample, now: Sample) -> str:
    """One line: each process's RSS and CPU share since `before`, Redis, the backlog."""
    seconds = max(now.at - before.at, 1e-9)
    memory = "  ".join(
        f"{name} {sum(p.rss for p in tree) / MIB:.0f} MiB"
        f" {(_cpu(tree) - _cpu(before.processes.get(name, []))) / seconds * 100:3.0f}%"
        for name, tree in now.processes.items()
    )
    return (
        f"t={now.at:5.0f}s  {memory}  redis {now.redis_bytes / MIB:.1f} MiB"
        f" ({now.redis_keys} keys)  db {now.database_bytes / MIB:.0f} MiB  backlog:"
        f" inbox {now.inbox} queue {now.queued} pending {now.pending}  final {now.final}"
        f"  commit {now.commit_ms:.1f} ms"
    )


async def load(args: argparse.Namespace, stack: SoakStack, probe: Probe) -> Report:
    run = datetime.now(UTC).strftime("soak-%Y%m%dT%H%M%S")
    warm_count = int(args.warm_up * args.rate)
    total = int(args.minutes * 60 * args.rate)
    limits = httpx.Limits(max_connections=SENDERS, max_keepalive_connections=SENDERS)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10, limits=limits) as client:
        print(f"warm-up: {warm_count} alerts at {args.rate:g}/s", flush=True)
        await send(client, run, range(warm_count), args.rate, args.symbols, Tally())
        first = probe.sample()
        probe.started = time.monotonic()  # t=0: the measured part begins
        first.at = 0.0
        samples = [first]
        tally = Tally()
        sampler = asyncio.create_task(sample_every(probe, args.sample, samples, tally))
        began = time.monotonic()
        numbers = range(warm_count, warm_count + total)
        sending = asyncio.create_task(send(client, run, numbers, args.rate, args.symbols, tally))
        await asyncio.wait({sending, sampler}, return_when=asyncio.FIRST_COMPLETED)
        if sampler.done():  # a process or Redis died: stop sending, say why
            sending.cancel()
            sampler.result()
        seconds = time.monotonic() - began
        sampler.cancel()
    last = probe.sample()
    keys = probe.redis_keys()
    stack.check_alive()
    drained = drain(probe, stack)
    return Report(tally, seconds, [*samples, last], last, drained, keys)


def drain(probe: Probe, stack: SoakStack) -> float | None:
    """Seconds until the inbox, the queue and the pending signals are empty (None: not within
    DRAIN_LIMIT)."""
    began = time.monotonic()
    while time.monotonic() - began < DRAIN_LIMIT:
        found = probe.sample()
        if found.inbox == found.queued == found.pending == 0:
            return time.monotonic() - began
        stack.check_alive()
        time.sleep(0.5)
    return None


@dataclass
class Report:
    tally: Tally
    seconds: float
    samples: list[Sample]
    end: Sample
    drained: float | None
    redis_keys: list[tuple[str, int, int]]  # at the end of the load: (kind, count, bytes)


def percent(start: float, end: float) -> str:
    return f"{(end - start) / start * 100:+.1f}%" if start else "n/a"


def memory_lines(report: Report) -> list[str]:
    start, end = report.samples[0], report.end
    seconds = max(end.at - start.at, 1e-9)
    lines = ["memory (RSS, MiB): after the warm-up -> at the end (peak), change; target: 10%;"
             " CPU share over the load"]  # fmt: skip
    for name, tree in start.processes.items():
        ended = {proc.pid: proc for proc in end.processes.get(name, [])}
        peaks: dict[int, int] = {}
        for sample in report.samples:
            for proc in sample.processes.get(name, []):
                peaks[proc.pid] = max(peaks.get(proc.pid, 0), proc.rss)
        total_start = sum(proc.rss for proc in tree)
        total_end = sum(proc.rss for proc in ended.values())
        verdict = "ok" if abs(total_end - total_start) <= 0.1 * total_start else "OVER 10%"
        cpu = (_cpu(list(ended.values())) - _cpu(tree)) / seconds * 100
        lines.append(
            f"  {name:<10} {total_start / MIB:7.1f} -> {total_end / MIB:7.1f}"
            f"  {percent(total_start, total_end):>7}  {verdict:<8}  CPU {cpu:.0f}%"
        )
        for proc in tree:
            last = ended.get(proc.pid)
            end_rss = last.rss if last else 0
            share = (last.cpu - proc.cpu) / seconds * 100 if last else 0.0
            lines.append(
                f"    {proc.label:<14} pid {proc.pid:<7} {proc.rss / MIB:7.1f} ->"
                f" {end_rss / MIB:7.1f} (peak {peaks.get(proc.pid, 0) / MIB:.1f})"
                f"  {percent(proc.rss, end_rss):>7}  CPU {share:.0f}%"
            )
    lines.append(
        f"  redis used_memory {start.redis_bytes / MIB:.1f} -> {end.redis_bytes / MIB:.1f}"
        f" MiB ({percent(start.redis_bytes, end.redis_bytes)}), keys {start.redis_keys}"
        f" -> {end.redis_keys}; database {start.database_bytes / MIB:.0f} ->"
        f" {end.database_bytes / MIB:.0f} MiB"
    )
    return lines


def throughput_lines(report: Report, rate: float) -> list[str]:
    tally, start, end = report.tally, report.samples[0], report.end
    cuts = quantiles(tally.latency_ms, n=100) if len(tally.latency_ms) > 1 else [0.0] * 99
    answers = ", ".join(f"{n} x {code}" for code, n in sorted(tally.answers.items()))
    failed = ", ".join(f"{n} x {kind}" for kind, n in tally.failures.items()) or "none"
    kinds = ", ".join(f"{n} {kind}" for kind, n in tally.kinds.most_common())
    settled = end.final - start.final
    backlog = max(s.inbox + s.queued + s.pending for s in report.samples)
    drained = f"{report.drained:.1f} s" if report.drained is not None else "NOT within 600 s"
    commits = (end.commits - start.commits) / max(settled, 1)
    return [
        f"alerts: {tally.sent} sent in {report.seconds:.0f} s = {tally.sent / report.seconds:.1f}/s"
        f" (asked {rate:g}/s; {tally.late} sent over a second late): {kinds}",
        f"  answers: {answers}; no answer: {failed}; answer p50 {cuts[49]:.1f} ms,"
        f" p99 {cuts[98]:.1f} ms, max {max(tally.latency_ms, default=0):.0f} ms",
        f"signals settled during the load: {settled} = {settled / report.seconds:.1f}/s"
        f" ({commits:.1f} database commits each, every process's);"
        f" largest backlog sampled {backlog} (inbox + queue + pending); at the end inbox"
        f" {end.inbox}, queue {end.queued}, pending {end.pending}; drained {drained} later",
    ]


def outcome_lines(probe: Probe) -> list[str]:
    counts = probe.statuses()
    lines = ["signals by final status: " + ", ".join(f"{n} {s}" for s, n in counts)]
    lines.append(f"  rows: {probe.rows()}")
    for status, reason, n in probe.reasons():
        lines.append(f"  {n:>6} {status}: {reason[:160]}")
    settle = probe.settle_times()
    if len(settle) > 1:
        cuts = quantiles(settle, n=100)
        lines.append(
            f"  received -> executed: p50 {cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms,"
            f" max {max(settle):.1f} s"
        )
    return lines


def redis_lines(report: Report, limit: int = 8) -> list[str]:
    lines = ["redis keys at the end of the load, by kind (count, estimated MiB):"]
    for kind, count, used in report.redis_keys[:limit]:
        lines.append(f"  {count:>7}  {used / MIB:7.2f}  {kind}")
    return lines


def problem_lines(stack: SoakStack) -> list[str]:
    found = stack.problems()
    total = sum(sum(lines.values()) for lines in found.values())
    out = [f"ERROR/CRITICAL lines logged: {total} (target: none)"]
    for name, lines in found.items():
        for line, n in lines.most_common(10):
            out.append(f"  {name} {n}x: {line}")
    return out


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="measured minutes")
    parser.add_argument("--rate", type=float, default=100.0, help="alerts per second")
    parser.add_argument("--warm-up", type=float, default=60.0, help="seconds before the start")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--symbols", type=int, default=3, choices=range(1, 13), metavar="1-12",
        help="symbols traded (signals of one symbol execute one after the other)",
    )  # fmt: skip
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    workdir = RESULTS / datetime.now(UTC).strftime("soak-%Y%m%dT%H%M%S")
    workdir.mkdir(parents=True)
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} alerts/s after {args.warm_up:g} s of"
        f" warm-up, {args.symbols} symbols, {args.workers} worker(s); logs in {workdir};"
        f" load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    stack = SoakStack(workdir, workers=args.workers, coins=args.symbols)
    try:
        stack.start()
        probe = Probe(stack)
        print("processes: " + ", ".join(
            f"{name} ({'+'.join(proc.label for proc in tree)})"
            for name, tree in stack.trees().items()
        ), flush=True)  # fmt: skip
        report = asyncio.run(load(args, stack, probe))
        lines = [
            *memory_lines(report),
            *throughput_lines(report, args.rate),
            *outcome_lines(probe),
            *redis_lines(report),
        ]
        probe.close()
        lines += problem_lines(stack)
        commit = sorted(sample.commit_ms for sample in report.samples)
        lines.append(
            f"load average at the end (1, 5, 15 min): {os.getloadavg()}; a PostgreSQL commit"
            f" (one-row insert) took {median(commit):.2f} ms, {commit[0]:.2f}-{commit[-1]:.2f}"
            " ms over the samples"
        )
        print("\n".join(lines), flush=True)
        (workdir / "report.txt").write_text("\n".join(lines) + "\n")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
