"""PostgreSQL transactions in as few round trips as their statements allow (psycopg's pipeline).

Left to itself, psycopg sends a transaction's BEGIN and its COMMIT as round trips of their own,
and waits for each statement's answer before the next is sent: a hosted database 1 ms away costs
a worker a millisecond per statement. Here a transaction runs in psycopg's pipeline mode, the
driver in autocommit mode so that the transaction's BEGIN and COMMIT are statements of the
pipeline: they travel with the statements around them. A statement whose answer is needed at
once (SQLAlchemy's own execution, `Prepared.rows`, a row count) costs a round trip there; one
sent ahead (`Prepared.send`, `Prepared.ask`) travels with the next, and its answer is read
after the COMMIT. So a transaction whose statements need no answer before it ends is one round
trip, COMMIT included. An error of a statement sent ahead is raised when the transaction ends:
nothing after it ran, and nothing was committed.

A pooled connection is pinged before use only after it lay idle (`PING_AFTER_IDLE_S`): SQLAlchemy's
`pool_pre_ping` costs a round trip per transaction. A connection that breaks while in use fails
its transaction (`Unavailable`), as it would have mid-transaction anyway, and the pool replaces it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError

PIPELINE = "signalgate_pipeline"  # Connection.info: the pipeline of the transaction running on it
_SENDER = "signalgate_sender"  # Connection.info: (the driver's connection, its cursor for sends)
_CHECKED_IN = "signalgate_checked_in"  # the connection record's info: when it went back to the pool
PING_AFTER_IDLE_S = 1.0
# PostgreSQL keeps a prepared statement's generic plan, costed on the tables as they were when it
# was made (a new deployment's: nearly empty, where a sequential scan is cheapest), until a table
# is analysed, which autovacuum does a minute later at the earliest. A connection drops its plans
# (DISCARD PLANS, sent as a transaction begins) after FIRST_REPLAN transactions, then after
# REPLAN_GROWTH times as many each time: the plans are made again on the tables as they have grown.
# Before that it analyses the tables changed most since their last statistics (without them the
# planner cannot tell one index starting with the account from another), best effort: a table
# whose lock another holds (autovacuum's VACUUM, for minutes on a large table) is left to it.
_REPLAN = "signalgate_replan"  # Connection.info: (transactions run, when the plans go next)
FIRST_REPLAN = 50
REPLAN_GROWTH = 4
_ANALYZE_GROWN = """
DO $$
DECLARE
    grown text;
    waits text := current_setting('lock_timeout');  -- the transaction's own, given back after
BEGIN
    PERFORM set_config('lock_timeout', '20ms', true);
    FOR grown IN
        SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables
        WHERE n_mod_since_analyze >= 50 AND n_mod_since_analyze * 4 > n_live_tup
    LOOP
        BEGIN
            EXECUTE 'ANALYZE ' || grown;
        EXCEPTION WHEN OTHERS THEN
            NULL;  -- left to autovacuum
        END;
    END LOOP;
    PERFORM set_config('lock_timeout', waits, true);
END
$$"""
# a transaction's COMMIT that does not wait for the disk (PostgreSQL's asynchronous commit)
_SEEN_FIRST = "SET LOCAL synchronous_commit = off"


def in_pipeline(conn: Connection) -> Any:
    """The psycopg pipeline of the transaction running on `conn`, or None."""
    return conn.info.get(PIPELINE)


def sender(conn: Connection) -> Any:
    """The driver's cursor of `conn` that runs the statements whose answers nobody reads
    (`Prepared.send`, BEGIN, COMMIT): one per connection, kept (psycopg spends as much making
    a cursor as running a statement in a pipeline)."""
    raw = conn.connection.dbapi_connection
    kept = conn.info.get(_SENDER)
    if kept is None or kept[0] is not raw:
        kept = conn.info[_SENDER] = (raw, raw.cursor())  # type: ignore[union-attr]
    return kept[1]


def prepare_engine(engine: Engine) -> None:
    """Set a PostgreSQL engine up for `pipelined` transactions: SQLAlchemy's statements get their
    answers at once, and idle connections are pinged before use."""

    @event.listens_for(engine, "after_cursor_execute")
    def _answer_now(conn: Connection, *_: Any) -> None:
        # SQLAlchemy reads a statement's description and row count right after it runs
        if (pipeline := in_pipeline(conn)) is not None:
            pipeline.sync()

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_CHECKED_IN)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # the pool drops it and checks out another (SQLAlchemy's documented protocol)
            raise DisconnectionError(f"connection lost while idle ({error})") from error


@contextmanager
def pipelined(
    engine: Engine,
    ahead: Callable[[Connection], object] | None = None,
    *,
    reads: bool = False,
    seen_first: bool = False,
    one_statement: bool = False,
    ahead_alone: bool = False,
) -> Iterator[Connection]:
    """A transaction on `engine` (at its isolation level) whose statements travel together.

    `ahead`: sends the statements of a transaction of its own, committed before this one
    begins, in the same round trip; if it fails, this one never runs. Its COMMIT does not wait
    for the disk (PostgreSQL's asynchronous commit): it is written ahead of a read that must
    see it, and the next transaction that waits for the disk (every write before an order is
    sent) makes it durable too; a database lost in between loses it as if the process had
    stopped before writing it, and nothing was sent after it. `ahead_alone`: `ahead` sends
    one statement that turns the commit asynchronous itself (`json_rows.ASYNC_COMMIT`), with
    no BEGIN, SET and COMMIT around it: with a block of `reads` (which write nothing) it is
    then one implicit transaction, committed as the pipeline ends, so a read that fails leaves
    it unwritten too. `reads`: the block only reads, each statement as of its own start (what
    read committed gives a transaction's statements): they run without BEGIN and COMMIT, which
    cost the driver as much as a read.
    `seen_first`: this COMMIT does not wait for the disk either, as `ahead`'s does (what is
    done on what it wrote is written by a transaction that does, which makes it durable too).
    `one_statement`: the block sends one statement, which PostgreSQL runs as a transaction of
    its own (committed, and waited for on the disk, as a COMMIT is): no BEGIN and COMMIT.

    Raises:
        DBAPIError: as SQLAlchemy raises them (OperationalError, IntegrityError, ...), from a
            statement run at once or sent ahead.
    """
    # SQLAlchemy's transaction too, for its events (its COMMIT finds nothing left to commit)
    with engine.connect() as conn, conn.begin():
        raw: Any = conn.connection.dbapi_connection
        level = conn.get_execution_options().get("isolation_level")
        alone = (reads or one_statement) and level is None and not seen_first
        begin = "BEGIN" if level is None else f"BEGIN ISOLATION LEVEL {level}"
        raw.autocommit = True  # the driver's own BEGIN would be a round trip of its own
        info = conn.info  # kept: an invalidated connection refuses to give it
        try:
            with raw.pipeline() as pipeline:
                info[PIPELINE] = pipeline
                cursor = sender(conn)
                if _replan_due(info):
                    cursor.execute(_ANALYZE_GROWN)
                    cursor.execute("DISCARD PLANS")
                if ahead is not None and ahead_alone:
                    ahead(conn)
                elif ahead is not None:
                    cursor.execute("BEGIN")
                    cursor.execute(_SEEN_FIRST)
                    ahead(conn)
                    cursor.execute("COMMIT")
                if not alone:
                    cursor.execute(begin)
                if seen_first:
                    cursor.execute(_SEEN_FIRST)
                yield conn
                if not alone:
                    cursor.execute("COMMIT")
        except engine.dialect.loaded_dbapi.Error as error:
            _end(conn, raw, info)
            raise _translated(engine, conn, raw, error) from error
        except BaseException:
            _end(conn, raw, info)
            raise
        finally:
            info.pop(PIPELINE, None)
        raw.autocommit = False


def _replan_due(info: dict[Any, Any]) -> bool:
    """Count a transaction on the connection whose `info` this is; whether its plans go now."""
    done: int
    due: int
    done, due = info.get(_REPLAN, (0, FIRST_REPLAN))
    done += 1
    info[_REPLAN] = (done, due * REPLAN_GROWTH if done >= due else due)
    return done >= due


def _end(conn: Connection, raw: Any, info: dict[Any, Any]) -> None:
    """Roll back what the failed transaction left open; a broken connection is dropped."""
    info.pop(PIPELINE, None)
    if raw.closed or raw.broken:
        conn.invalidate()
        return
    try:
        if raw.info.transaction_status != 0:  # not idle: in a transaction, or a failed one
            raw.execute("ROLLBACK")
        raw.autocommit = False
    except Exception:  # noqa: BLE001 - whatever broke it, the connection is not reused
        conn.invalidate()


def _translated(engine: Engine, conn: Connection, raw: Any, error: Any) -> Exception:
    """The driver's error as SQLAlchemy raises it (a lost connection flagged as one)."""
    dbapi_error = engine.dialect.loaded_dbapi.Error
    lost = engine.dialect.is_disconnect(error, raw, None)
    if lost and not conn.invalidated:
        conn.invalidate()
    translated: Exception = DBAPIError.instance(
        None, None, error, dbapi_error, connection_invalidated=lost, dialect=engine.dialect
    )
    return translated
