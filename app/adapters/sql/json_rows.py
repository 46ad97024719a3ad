"""Rows sent to PostgreSQL as one JSON parameter per kind and unpacked there into a table's own
column types (`json_populate_recordset`; money as exact text): a statement of many rows whose
text never changes, its values encoded by msgspec in one go (the flush statement, the paper
venue's save)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from sqlalchemy import Table

_encode = msgspec.json.Encoder().encode

# in a statement, makes its own transaction's COMMIT not wait for the disk (what `SET LOCAL
# synchronous_commit = off` does in a transaction of several statements)
ASYNC_COMMIT = "set_config('synchronous_commit', 'off', true)"


def json_text(value: Any) -> str:
    """`value` (rows, a list of ids) as the JSON text of one parameter."""
    return _encode(value).decode()


def column_names(table: Table, *, but: Iterable[str] = ()) -> list[str]:
    """`table`'s columns, in order, but those named in `but`."""
    left = set(but)
    return [c.name for c in table.columns if c.name not in left]


def insert_from_json(table: Table, param: str, columns: list[str]) -> str:
    """An INSERT of `columns` from the rows of the JSON array bound to `param`, each read into
    `table`'s own column types."""
    listed = ", ".join(columns)
    source = f"json_populate_recordset(NULL::{table.name}, CAST(:{param} AS json))"
    return f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM {source}"  # noqa: S608
