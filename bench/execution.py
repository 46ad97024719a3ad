"""Execution benchmark: alerts through serve, one worker and the monitor, to filled paper entries.

1. Latency: alerts at 20/s (unique ids, 20 USDT buys alternating BTC/USDT and ETH/USDT, with a
   2% take-profit and a 1% stop-loss) for 20 s; for each signal, the time from `received_at` (and
   from the client's send) to the lineage step that reported its entry filled. Targets: p50 under
   15 ms, p99 under 60 ms.
2. Throughput: N alerts submitted over HTTP with no worker running, kept in SQL and queued on RQ
   by the forwarder; then one worker (`--burst`) is started and timed until all are executed.
   Target: at least 200 signals/s. It prints the CPU time per signal of the worker, the
   monitor, the PostgreSQL and Redis servers and the whole machine while the worker ran, and
   how many signals a second the machine's cores could serve at that cost with every wait
   overlapped (a ceiling no overlap of round trips can pass).
3. Profile: the same throughput run once more with the worker and the monitor (the paper host)
   under cProfile; the top entries and the split of their time go to
   bench/results/execution_profile-*.txt (gitignored).

Processes run on 127.0.0.1 with Redis db 14 (`BENCH_REDIS_URL`; flushed) and a scratch SQLite
file, or PostgreSQL with `--database postgres`; `--pg-delay-ms D` puts a proxy in front of it
that delays every round trip by D ms (`bench/pg_proxy.py`), and prints each process's round
trips and statements per signal (0: counted, not delayed). Every signal counted as measured
really executed: status `executed` and its entry order `filled`. Run with
`python -m bench.execution`.
"""

from __future__ import annotations

import argparse
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from statistics import median, quantiles

import psutil  # type: ignore[import-untyped]

from bench.execution_profile import MONITOR_HOT_SPOTS, WORKER_HOT_SPOTS, summarize
from bench.execution_results import Outcome
from bench.execution_runs import (
    RoundTrips,
    ThroughputRound,
    latency_round,
    stack_for,
    throughput_round,
)

RESULTS = Path(__file__).resolve().parent / "results"


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50": values[0] if values else 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    cuts = quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49], "p90": cuts[89], "p99": cuts[98], "max": max(values)}


def shown(label: str, values: list[float]) -> str:
    p = percentiles(values)
    return (
        f"{label:<34} p50 {p['p50']:7.2f}  p90 {p['p90']:7.2f}  p99 {p['p99']:7.2f}  "
        f"max {p['max']:7.2f} ms  (n={len(values)})"
    )


def counts_line(found: list[Outcome]) -> str:
    statuses: dict[str, int] = {}
    for outcome in found:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    filled = sum(1 for o in found if o.measured)
    listed = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    line = f"signals: {listed}; executed with the entry filled: {filled} of {len(found)}"
    reasons = Counter(o.reason for o in found if o.status != "executed")
    if reasons:
        reason, count = reasons.most_common(1)[0]
        line += f"\n  most common reason not executed ({count}x): {reason}"
    return line


def database_lines(use: RoundTrips | None, added_ms: float | None, out: Path) -> list[str]:
    """Each process's round trips to PostgreSQL per signal; their statements' texts to `out`."""
    if use is None:
        return []
    lines = [f"database round trips per signal (each {added_ms or 0:.2f} ms more through the"
             " proxy, measured):"]  # fmt: skip
    texts = []
    for name, found in use.items():
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in sorted(found.kinds.items()))
        lines.append(f"    {name:<8} {found.round_trips:6.2f} round trips, {found.statements:6.2f}"
                     f" statements ({kinds})")  # fmt: skip
        texts += [f"== {name}"] + [f"{n:7.2f}  {t}" for t, n in found.texts.items()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(texts) + "\n")
    lines.append(f"    the statements per signal, by text: {out}")
    return lines


# --- parts ------------------------------------------------------------------------------------


def run_latency(args: argparse.Namespace, stamp: str) -> None:
    db = args.database
    RESULTS.mkdir(exist_ok=True)
    print(f"== latency: {args.rate:.0f} alerts/s for {args.seconds:.0f} s, one worker, {db}")
    latency_rounds = []
    for round_ in range(1, args.rounds + 1):
        dump = RESULTS / f"execution-worker-latency-{db}.prof" if args.profile_latency else None
        with stack_for(db, pg_delay_ms=args.pg_delay_ms, cpu_clock=args.profile_cpu) as stack:
            result = latency_round(stack, args.rate, args.seconds, f"lat-{stamp}-{round_}", dump)
            added = stack.proxy.added_ms if stack.proxy else None
        latency_rounds.append(result)
        print(f"round {round_}  {counts_line(result.found)}; not accepted: {result.not_accepted}")
        print("  " + shown("received -> entry filled", result.received_to_fill))
        print("  " + shown("client send -> entry filled", result.sent_to_fill))
        print("  " + shown("received -> signal executed", result.received_to_final))
        print("  " + shown("the first second's: received -> filled", result.first_second))
        for stage, values in result.stages.items():
            print("  " + shown(stage, values))
        print(
            f"  received -> entry filled p50, first half {result.first_half_p50:.2f} ms, "
            f"second half {result.second_half_p50:.2f} ms"
        )
        out = RESULTS / f"execution_statements-latency-{db}.txt"
        for line in database_lines(result.database_use, added, out):
            print("  " + line)
    p50s = [percentiles(r.received_to_fill)["p50"] for r in latency_rounds]
    p99s = [percentiles(r.received_to_fill)["p99"] for r in latency_rounds]
    print(
        f"median of {args.rounds} rounds, received -> entry filled: p50 {median(p50s):.2f} ms "
        f"(target < 15), p99 {median(p99s):.2f} ms (target < 60); worst p99 {max(p99s):.2f} ms"
    )


def run_throughput(args: argparse.Namespace, stamp: str) -> None:
    db = args.database
    print(f"\n== throughput: {args.signals} queued signals, one worker, {db}")
    rates = []
    for round_ in range(1, args.rounds + 1):
        with stack_for(db, pg_delay_ms=args.pg_delay_ms) as stack:
            tp = throughput_round(stack, args.signals, f"tp-{stamp}-{round_}", None)
            added = stack.proxy.added_ms if stack.proxy else None
        rates.append(tp.steady_rate)
        print(f"round {round_}  {counts_line(tp.found)}")
        print(
            f"  submitted and queued in {tp.submit_seconds:.1f} s as {tp.jobs} RQ jobs; "
            f"one worker: {tp.steady_rate:.0f} signals/s first to last, {tp.wall_rate:.0f}/s "
            f"from its start; CPU s: worker {tp.worker_cpu:.1f} (and {tp.startup_cpu:.1f} to "
            f"start), monitor {tp.monitor_cpu:.1f}"
        )
        if tp.machine is not None:
            print("  " + cpu_line(tp))
        print(
            f"  rate over the first tenth of the signals {tp.first_tenth_rate:.0f}/s, "
            f"the last tenth {tp.last_tenth_rate:.0f}/s (open brackets grow as it runs)"
        )
        out = RESULTS / f"execution_statements-throughput-{db}.txt"
        for line in database_lines(tp.database_use, added, out):
            print("  " + line)
    print(f"median of {args.rounds} rounds: {median(rates):.0f} signals/s (target >= 200)")


def cpu_line(tp: ThroughputRound) -> str:
    """Where the machine's CPU went per signal from the worker's first signal done to its last
    (its start-up apart), and the rate those figures allow on this machine's cores with every
    wait overlapped."""
    assert tp.machine is not None
    signals = max(tp.measured, 1)
    per = 1000 / signals
    cores = psutil.cpu_count() or 1
    servers = ", ".join(f"{k} {v * per:.2f}" for k, v in tp.machine.by_label().items())
    ceiling = cores / (tp.machine.busy / signals)
    steal = tp.machine.steal / max(tp.seconds * cores, 1e-9)
    return (
        f"CPU ms per signal while the worker ran: worker {tp.worker_cpu * per:.2f}, monitor "
        f"{tp.monitor_cpu * per:.2f}, {servers}; the whole machine {tp.machine.busy * per:.2f}, "
        f"which {cores} cores serve at most {ceiling:.0f} times a second (the hypervisor "
        f"took {steal:.0%} of them)"
    )


def run_profile(args: argparse.Namespace, stamp: str) -> None:
    db = args.database
    RESULTS.mkdir(exist_ok=True)
    dump = RESULTS / f"execution-worker-{db}.prof"
    monitor_dump = RESULTS / f"execution-monitor-{db}.prof"
    with stack_for(db, monitor_profile=monitor_dump, cpu_clock=args.profile_cpu) as stack:
        tp = throughput_round(stack, args.signals, f"prof-{stamp}", dump)
    clock = "CPU time" if args.profile_cpu else "wall time"
    print(f"\n== profile ({clock}): the worker and the monitor under cProfile: "
          f"{tp.steady_rate:.0f} signals/s; {counts_line(tp.found)}")  # fmt: skip
    for process, hot_spots, profiled in (
        ("worker", WORKER_HOT_SPOTS, dump),
        ("monitor", MONITOR_HOT_SPOTS, monitor_dump),
    ):
        out = RESULTS / f"execution_profile-{process}-{db}.txt"
        for line in summarize(profiled, out, tp.signals, hot_spots, process):
            print(line)
        print(f"top 25 cumulative entries: {out}")


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


# --- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rate", type=float, default=20.0, help="alerts per second (latency)")
    parser.add_argument("--seconds", type=float, default=20.0, help="latency run length")
    parser.add_argument("--signals", type=int, default=1000, help="throughput: signals queued")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--pg-delay-ms",
        type=float,
        help="PostgreSQL: reach it through a proxy that delays every round trip this long and "
        "counts them (0: count only)",
    )
    parser.add_argument(
        "--profile-cpu",
        action="store_true",
        help="profile: count CPU time (waits left out) instead of wall time",
    )
    parser.add_argument(
        "--profile-latency",
        action="store_true",
        help="latency: run the worker under cProfile (bench/results/execution-worker-latency-*)",
    )
    parser.add_argument(
        "--parts", default="latency,throughput,profile", help="which parts to run, comma-separated"
    )
    args = parser.parse_args()
    # a SIGTERM (from `timeout`, say) unwinds like Ctrl-C: every process started gets stopped
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parts = set(args.parts.split(","))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    if "latency" in parts:
        run_latency(args, stamp)
    if "throughput" in parts:
        run_throughput(args, stamp)
    if "profile" in parts:
        run_profile(args, stamp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
