"""`make test` runs the tests marked `quiet` by naming their files (QUIET_TESTS in the Makefile):
a quiet test in another file would be left out of both runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_quiet_test_is_in_a_file_make_test_names() -> None:
    named = re.search(r"^QUIET_TESTS := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert named is not None
    marked = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if re.search(r"^@pytest\.mark\.quiet\b", path.read_text(), re.MULTILINE)
    }
    assert marked == set(named.group(1).split())
