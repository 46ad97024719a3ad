"""The `.env` file of a local run (`signalgate run`, `make run`): settings written once in a
file instead of exported in every shell. A variable set in the environment wins over the file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

ENV_FILE = Path(".env")


@dataclass(frozen=True, slots=True)
class LocalEnvironment:
    """The environment of a local run: the process's own plus what `.env` adds."""

    values: dict[str, str]
    read: tuple[str, ...]  # the names the file set
    overridden: tuple[str, ...]  # names in the file that the environment already set

    def said(self, path: Path) -> str | None:
        """A line for the user about the file (names only: values may be secrets)."""
        if not self.read and not self.overridden:
            return None
        line = f"read {len(self.read)} setting(s) from {path}"
        if self.overridden:
            line += f"; the environment's own {', '.join(self.overridden)} kept"
        return line


def with_env_file(
    path: Path = ENV_FILE, environ: Mapping[str, str] | None = None
) -> LocalEnvironment:
    """`environ` (the process's environment) with the settings of the `.env` file at `path`
    added, when there is one.

    The file is `KEY=value` lines as `.env.example` writes them: `#` comments, optional
    `export `, values quoted or not, taken literally (no `${VAR}` expansion). A line without
    `=` is ignored.
    """
    env = dict(os.environ if environ is None else environ)
    if not path.is_file():
        return LocalEnvironment(env, (), ())
    found = {k: v for k, v in dotenv_values(path, interpolate=False).items() if v is not None}
    overridden = tuple(name for name in found if name in env)
    added = {name: value for name, value in found.items() if name not in env}
    return LocalEnvironment({**env, **added}, tuple(added), overridden)
