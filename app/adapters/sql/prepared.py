"""Hot statements compiled once and run on the database driver's own cursor.

`Connection.execute` costs 100-200 us of Python per statement (execution context, parameter
processing, result set-up) where SQLite itself answers in 10-50 us; a worker runs about twenty
statements per signal. A `Prepared` statement is compiled by SQLAlchemy once per engine, so the
SQL and every value conversion (money as exact text on SQLite, datetimes, JSON) are SQLAlchemy's
own, and then runs on the DBAPI cursor of the caller's connection, inside its transaction. An
INSERT is compiled for the columns of the rows it is given (their keys), once per set of keys.

On PostgreSQL a transaction's statements travel together (`app.adapters.sql.flights`): `send`
and `ask` add a statement to the next round trip, `execute`, `executemany` and `rows` wait for
its answer (a round trip of its own, with whatever was sent before it). On SQLite every statement
runs at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Insert, and_, bindparam, literal_column, or_
from sqlalchemy.exc import DBAPIError

from app.adapters.sql.flights import in_pipeline, sender

Convert = Callable[[Any], Any]
ROWS_PER_INSERT = 32  # a statement's text and its prepared form per row count: a few kept


@dataclass(frozen=True)
class _Form:
    """A statement compiled for one dialect (and, an INSERT, for one set of columns)."""

    sql: str
    names: Sequence[str]
    positional: bool
    defaults: dict[str, Any]
    binds: list[tuple[str, Convert | None]]

    @classmethod
    def of(cls, statement: Any, dialect: Dialect, keys: Sequence[str] | None) -> _Form:
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("a prepared statement cannot hold an IN list; write it out")
        binds = compiled.binds
        names = compiled.positiontup if compiled.positional else list(binds)
        assert names is not None
        return cls(
            sql=compiled.string,
            names=names,
            positional=compiled.positional,
            defaults={n: binds[n].value for n in names if not binds[n].required},
            binds=[(n, binds[n].type.dialect_impl(dialect).bind_processor(dialect)) for n in names],
        )

    def params(self, values: Mapping[str, Any]) -> Any:
        if self.defaults:
            values = {**self.defaults, **values}
        converted = [
            values[name] if convert is None else convert(values[name])
            for name, convert in self.binds
        ]
        return converted if self.positional else dict(zip(self.names, converted, strict=True))


class Prepared:
    def __init__(self, engine: Engine, statement: Any) -> None:
        self._dialect = engine.dialect
        self._statement = statement
        # an INSERT of values is compiled for the columns it is given (one FROM a SELECT is not)
        self._insert = isinstance(statement, Insert) and statement.select is None
        self._plain_insert = self._insert and statement._post_values_clause is None
        self._forms: dict[tuple[str, ...], _Form] = {}
        # what a SELECT, or a RETURNING clause, answers
        self._columns = list(getattr(statement, "exported_columns", None) or ())
        self._results: list[Convert | None] | None = None  # known at the first answer

    def _form(self, values: Mapping[str, Any]) -> _Form:
        keys = tuple(values) if self._insert else ()
        form = self._forms.get(keys)
        if form is None:
            form = self._forms[keys] = _Form.of(self._statement, self._dialect, keys or None)
        return form

    def execute(self, conn: Connection, values: Mapping[str, Any] | None = None) -> int:
        """Run it once; the number of rows it changed."""
        values = values or {}
        form = self._form(values)
        cursor = self._run(conn, form.sql, form.params(values), many=False, answered=True)
        self._answered(conn)
        changed = int(cursor.rowcount)
        cursor.close()
        return changed

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run it once per row; the number of rows it changed in all."""
        if not rows:
            return 0
        form = self._form(rows[0])
        params = [form.params(row) for row in rows]
        cursor = self._run(conn, form.sql, params, many=True, answered=True)
        self._answered(conn)
        changed = int(cursor.rowcount)
        cursor.close()
        return changed

    def send(self, conn: Connection, values: Mapping[str, Any] | None = None) -> None:
        """Run it once, its answer never read: not awaited on PostgreSQL (an error fails the
        transaction)."""
        values = values or {}
        form = self._form(values)
        self._sent(conn, self._run(conn, form.sql, form.params(values), many=False, answered=False))

    def send_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """`send`, once per row (none: nothing is sent). In PostgreSQL's pipeline, the rows of
        a plain INSERT go as one statement of many VALUES (up to `ROWS_PER_INSERT` each): the
        driver's work and the server's are per statement. (Not an upsert's: two of its rows
        may share a key, which one statement cannot update twice.)"""
        if not rows:
            return
        if self._plain_insert and len(rows) > 1 and in_pipeline(conn) is not None:
            for start in range(0, len(rows), ROWS_PER_INSERT):
                chunk = rows[start : start + ROWS_PER_INSERT]
                form = self._rows_form(tuple(chunk[0]), len(chunk))
                values = {f"{k}_r{n}": v for n, row in enumerate(chunk) for k, v in row.items()}
                self._run(conn, form.sql, form.params(values), many=False, answered=False)
            return
        form = self._form(rows[0])
        params = [form.params(row) for row in rows]
        self._sent(conn, self._run(conn, form.sql, params, many=True, answered=False))

    def _rows_form(self, keys: tuple[str, ...], count: int) -> _Form:
        """The INSERT of `count` rows of columns `keys`, bound as `<key>_r<row>`."""
        form = self._forms.get((f"#{count}", *keys))
        if form is None:
            table = self._statement.table
            many = self._statement.values(
                [{k: bindparam(f"{k}_r{n}", type_=table.c[k].type) for k in keys}
                 for n in range(count)]
            )  # fmt: skip
            form = self._forms[(f"#{count}", *keys)] = _Form.of(many, self._dialect, None)
        return form

    @staticmethod
    def _sent(conn: Connection, cursor: Any) -> None:
        if in_pipeline(conn) is None:  # run already (SQLite), on a cursor of its own
            cursor.close()

    def ask(self, conn: Connection, values: Mapping[str, Any] | None = None) -> Answer:
        """A SELECT sent now, whose rows are read later (`Answer.rows`): after the transaction
        on PostgreSQL, which sends them with its COMMIT."""
        values = values or {}
        form = self._form(values)
        cursor = self._run(conn, form.sql, form.params(values), many=False, answered=True)
        if in_pipeline(conn) is None:  # answered already: read before the transaction ends
            return Answer(self, None, self.converted(cursor))
        return Answer(self, cursor)

    def rows(
        self, conn: Connection, values: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """The rows of a SELECT, their values converted like SQLAlchemy's."""
        return self.ask(conn, values).rows()

    def converted(self, cursor: Any) -> list[tuple[Any, ...]]:
        """The rows of the statement run on `cursor` (waited for on PostgreSQL)."""
        error = self._dialect.loaded_dbapi.Error
        try:
            found = cursor.fetchall()
        except error as exc:
            raise DBAPIError.instance(None, None, exc, error, dialect=self._dialect) from exc
        if self._results is None:  # the driver's type codes choose the conversions
            self._results = [
                c.type.dialect_impl(self._dialect).result_processor(self._dialect, d[1])
                for c, d in zip(self._columns, cursor.description, strict=True)
            ]
        cursor.close()
        results = self._results
        if not any(results):
            return [tuple(row) for row in found]
        return [
            tuple(v if convert is None or v is None else convert(v)
                  for v, convert in zip(row, results, strict=True))
            for row in found
        ]  # fmt: skip

    def _answered(self, conn: Connection) -> None:
        """Wait for the answers of everything sent on `conn` (PostgreSQL's pipeline)."""
        if (pipeline := in_pipeline(conn)) is None:
            return
        error = self._dialect.loaded_dbapi.Error
        try:
            pipeline.sync()
        except error as exc:
            raise DBAPIError.instance(None, None, exc, error, dialect=self._dialect) from exc

    def _run(self, conn: Connection, sql: str, params: Any, *, many: bool, answered: bool) -> Any:
        """The cursor, having run the statement (`answered`: a cursor of its own, whose answer
        is read; else, in PostgreSQL's pipeline, the connection's `sender`); SQLAlchemy's
        `before_cursor_execute` listeners (tracing, tests that count writes) see it as they
        would a Core statement."""
        if answered or in_pipeline(conn) is None:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        else:
            cursor = sender(conn)
        for listener in conn.dispatch.before_cursor_execute:
            listener(conn, cursor, sql, params, None, many)
        error = self._dialect.loaded_dbapi.Error
        try:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
        except error as exc:  # as Connection.execute raises it: OperationalError and the rest
            raise DBAPIError.instance(sql, None, exc, error, dialect=self._dialect) from exc
        return cursor


class Answer:
    """The rows a `Prepared` SELECT was asked for, read when needed."""

    def __init__(
        self, statement: Prepared, cursor: Any, rows: list[tuple[Any, ...]] | None = None
    ) -> None:
        self._statement, self._cursor, self._rows = statement, cursor, rows

    def rows(self) -> list[tuple[Any, ...]]:
        if self._rows is not None:
            return self._rows
        self._rows = self._statement.converted(self._cursor)
        return self._rows


def any_of(column: Any, values: Sequence[Any]) -> Any:
    """`column IN (values)` with one bound value each (a prepared statement holds no IN list)."""
    return or_(*(column == value for value in values))


def none_of(column: Any, values: Sequence[Any]) -> Any:
    """`column NOT IN (values)`, written out as `any_of` is."""
    return and_(*(column != value for value in values))


def among(column: Any, values: Sequence[str]) -> Any:
    """`column IN ('a', 'b')`, the constants `values` written into the statement: unlike
    `any_of`'s comparisons, which PostgreSQL filters row by row, an index on the column finds
    them."""
    return column.in_([literal_column("'" + value.replace("'", "''") + "'") for value in values])
