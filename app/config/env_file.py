"""The `.env` file of a local run (`signalgate run`, and so `make run`), read with python-dotenv
(quotes, `export`, comments, `${VAR}` expansion): a variable set in the environment wins over it.
Processes on a platform read their environment alone."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values

ENV_FILE = Path(".env")  # in the directory the run starts from, as `.env.example` says


def with_env_file(path: Path = ENV_FILE) -> tuple[dict[str, str], list[str]]:
    """The environment, plus each variable of `path` it does not set.

    Returns:
        The variables, and the names taken from the file, in its order.
    """
    merged = dict(os.environ)
    if not path.is_file():
        return merged, []
    found = dotenv_values(path)
    taken = [name for name, value in found.items() if value is not None and name not in merged]
    merged.update({name: found[name] or "" for name in taken})
    return merged, taken
