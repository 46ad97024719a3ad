"""Hot statements compiled once and run on the database driver's own cursor.

`Connection.execute` costs 100-200 us of Python per statement (execution context, parameter
processing, result set-up) where SQLite itself answers in 10-50 us; a worker runs about twenty
statements per signal. A `Prepared` statement is compiled by SQLAlchemy once per engine, so the
SQL and every value conversion (money as exact text on SQLite, datetimes, JSON) are SQLAlchemy's
own, and then runs on the DBAPI cursor of the caller's connection, inside its transaction. An
INSERT is compiled for the columns of the rows it is given (their keys), once per set of keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Insert, or_
from sqlalchemy.exc import DBAPIError

Convert = Callable[[Any], Any]


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
        self._insert = isinstance(statement, Insert)  # compiled for the columns it is given
        self._forms: dict[tuple[str, ...], _Form] = {}
        self._columns = list(getattr(statement, "selected_columns", None) or ())
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
        cursor = self._run(conn, form.sql, form.params(values), many=False)
        changed = int(cursor.rowcount)
        cursor.close()
        return changed

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run it once per row; the number of rows it changed in all."""
        if not rows:
            return 0
        form = self._form(rows[0])
        cursor = self._run(conn, form.sql, [form.params(row) for row in rows], many=True)
        changed = int(cursor.rowcount)
        cursor.close()
        return changed

    def rows(
        self, conn: Connection, values: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """The rows of a SELECT, their values converted like SQLAlchemy's."""
        values = values or {}
        form = self._form(values)
        cursor = self._run(conn, form.sql, form.params(values), many=False)
        found = cursor.fetchall()
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

    def _run(self, conn: Connection, sql: str, params: Any, *, many: bool) -> Any:
        """The cursor, having run the statement; SQLAlchemy's `before_cursor_execute`
        listeners (tracing, tests that count writes) see it as they would a Core statement."""
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
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


def any_of(column: Any, values: Sequence[str]) -> Any:
    """`column IN (values)` with one bound value each (a prepared statement holds no IN list)."""
    return or_(*(column == value for value in values))
