"""Where a worker's time goes, from a cProfile dump: the top entries, and exclusive time by kind.

Exclusive time (cProfile's `tottime`) adds up to the whole run without counting anything twice,
so it is split by the file or built-in each function lives in: SQL (SQLAlchemy and the database
driver), Redis (redis-py and raw socket reads, which is where a synchronous client waits for its
answer), RQ, waiting in the event loop (`epoll.poll`: the paper host's replies), signalgate's
domain code, its other code, msgspec, logging, imports, and the rest.
"""

from __future__ import annotations

import io
import pstats
from pathlib import Path

# (kind, what a function's file or built-in name contains), first match wins
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("waiting in the event loop (epoll: paper host replies)", ("select.epoll",)),
    ("SQL: SQLAlchemy", ("/sqlalchemy/", "/sqlmodel/")),
    ("SQL: driver (sqlite3 / psycopg)", ("sqlite3", "/psycopg/", "psycopg")),
    ("Redis: redis-py", ("/redis/",)),
    ("Redis: socket reads and writes", ("_socket.socket", "socket.socket")),
    ("RQ", ("/rq/",)),
    ("JSON decoding (SQL JSON columns: bracket data, signals)", ("/json/decoder.py",)),
    ("signalgate domain (app/domain)", ("/app/domain/",)),
    ("signalgate adapters (app/adapters)", ("/app/adapters/",)),
    ("signalgate services (app/*.py)", ("/app/",)),
    ("msgspec", ("msgspec",)),
    ("logging", ("/logging/",)),
    ("asyncio", ("/asyncio/",)),
    ("imports (start-up)", ("<frozen importlib", "built-in method _imp", "marshal")),
)

# (label, file part, function): inclusive CPU time of the places a signal's time goes; nested
# entries overlap. Coroutines count their own running time only, never the time they await.
HotSpots = tuple[tuple[str, str, str], ...]
WORKER_HOT_SPOTS: HotSpots = (
    ("RQ worker loop (work)", "/rq/worker/", "work"),
    ("  the job functions (execute_signal[s])", "workers/jobs.py", "execute_signal"),
    ("  (batched jobs)", "workers/jobs.py", "execute_signals"),
    ("Executor._entry_signal", "app/services/execution/executor.py", "_entry_signal"),
    ("  store.account_state (account snapshot)", "sql/execution_store.py", "account_state"),
    ("  Executor._entry_policy", "app/services/execution/executor.py", "_entry_policy"),
    ("  ExecutionContext._quotes (venue reads)", "app/services/execution/context.py", "_quotes"),
    ("  Executor._open (orders + bracket)", "app/services/execution/executor.py", "_open"),
    ("store.open_brackets (SQL + decode)", "sql/execution_store.py", "open_brackets"),
    ("holdings (open positions, from columns)", "sql/holdings.py", "of_account"),
    ("store.save_bracket", "sql/execution_store.py", "save_bracket"),
    ("store.record (lineage)", "sql/execution_store.py", "record"),
    ("store.pending / signals", "sql/execution_store.py", "pending"),
    ("store.trading_state", "sql/execution_store.py", "trading_state"),
    ("SQLAlchemy Connection.execute", "sqlalchemy/engine/base.py", "execute"),
    ("SQL commits", "sqlalchemy/engine/base.py", "_commit_impl"),
    ("RemotePaperExchange._request (Redis to the host)", "paper/remote.py", "_request"),
    ("BracketDriver.drive (TP/SL legs)", "brackets/driver.py", "drive"),
    ("Redis lock hold / release", "redis/locks.py", "hold"),
    ("msgspec convert (rows to Brackets)", "~", "<built-in method msgspec._core.convert>"),
    ("logging", "/logging/__init__.py", "_log"),
)
# The monitor process: the paper host (answering the workers) shares one event loop with the
# market data feed and the bracket monitor, and their synchronous SQL and Redis calls block it.
MONITOR_HOT_SPOTS: HotSpots = (
    ("PaperHost._execute (answering workers)", "paper/host.py", "_execute"),
    ("  PaperExchange.create_order", "paper/exchange.py", "create_order"),
    ("  SqlPaperStore.save_changes (paper SQL writes)", "paper/store.py", "save_changes"),
    ("PaperHost.on_tick (feed: resting orders)", "paper/host.py", "on_tick"),
    (
        "BracketMonitor.run_once (every open bracket)",
        "app/services/brackets/monitor.py",
        "run_once",
    ),
    ("  RedisKeyLocks.try_hold (sync Redis)", "redis/locks.py", "try_hold"),
    ("  store.bracket (SQL + decode)", "sql/execution_store.py", "bracket"),
    ("  store.open_brackets (SQL + decode)", "sql/execution_store.py", "open_brackets"),
    ("  BracketDriver.refresh", "brackets/driver.py", "refresh"),
    ("  BracketDriver.drive", "brackets/driver.py", "drive"),
    ("SQLAlchemy Connection.execute", "sqlalchemy/engine/base.py", "execute"),
    ("SQL commits", "sqlalchemy/engine/base.py", "_commit_impl"),
)

_FunctionKey = tuple[str, int, str]


def _kind(key: _FunctionKey) -> str:
    filename, _, name = key
    where = f"{filename} {name}"
    for kind, needles in _KINDS:
        if any(needle in where for needle in needles):
            return kind
    return "other (stdlib, decimal, ...)"


def _raw(stats: pstats.Stats) -> dict[_FunctionKey, tuple[int, int, float, float, object]]:
    return stats.stats  # type: ignore[attr-defined,no-any-return]  # pstats keeps it untyped


def _cumulative(stats: pstats.Stats, filename_part: str, name: str) -> float:
    return sum(
        row[3]
        for (filename, _, func), row in _raw(stats).items()
        if filename_part in filename and func == name
    )


def summarize(dump: Path, out: Path, signals: int, hot_spots: HotSpots, process: str) -> list[str]:
    """Write the top 25 cumulative entries and the split by kind to `out`; return the split."""
    stats = pstats.Stats(str(dump))
    text = io.StringIO()
    stats.stream = text  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(25)

    by_kind: dict[str, float] = {}
    for key, row in _raw(stats).items():
        by_kind[_kind(key)] = by_kind.get(_kind(key), 0.0) + row[2]
    total = sum(by_kind.values())
    job = _cumulative(stats, "workers/jobs.py", "execute_signals") + _cumulative(
        stats, "workers/jobs.py", "execute_signal"
    )
    rq_job = _cumulative(stats, "/rq/worker/", "execute_job")
    lines = [
        f"{process} profile: {total:.2f} s profiled for {signals} signals "
        f"({1000 * total / signals:.2f} ms per signal, profiler overhead included; "
        f"{stats.total_calls / signals:,.0f} function calls per signal)",  # type: ignore[attr-defined]
        f"  RQ execute_job (all jobs): {rq_job:.2f} s; the job functions inside it: {job:.2f} s "
        f"(RQ's own share per signal: {1000 * max(rq_job - job, 0) / signals:.2f} ms)",
        "  exclusive time by kind (ms per signal, share):",
    ]
    for kind, seconds in sorted(by_kind.items(), key=lambda item: -item[1]):
        lines.append(
            f"    {1000 * seconds / signals:7.2f} ms  {100 * seconds / total:5.1f}%  {kind}"
        )
    lines.append("  inclusive time of hot spots (ms per signal; nested entries overlap):")
    for label, filename_part, name in hot_spots:
        seconds = _cumulative(stats, filename_part, name)
        lines.append(f"    {1000 * seconds / signals:7.2f} ms  {label}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n\n" + text.getvalue())
    return lines
