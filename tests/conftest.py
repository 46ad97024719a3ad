from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from app.bootstrap.logs import ProcessLogHandler


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A command run in this process (`main([...])`) configures its logging: undo that, so the
    next test logs as pytest set it up."""
    root, httpx = logging.getLogger(), logging.getLogger("httpx")
    levels = root.level, httpx.level
    yield
    for handler in [h for h in root.handlers if isinstance(h, ProcessLogHandler)]:
        root.removeHandler(handler)
    root.setLevel(levels[0])
    httpx.setLevel(levels[1])
