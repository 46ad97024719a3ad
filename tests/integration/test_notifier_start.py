"""The notifier process starts light: it sends notifications and reads the book, and loads no
venue library (ccxt alone took about half of its start) to do so."""

from __future__ import annotations

import json
import subprocess
import sys

from app.adapters.notify.queue import SEND, SUMMARY

# What `signalgate notifier` imports, in a fresh interpreter: its bootstrap, then each job
# function as RQ resolves it by name before the first job runs.
START_AND_RESOLVE = f"""
import json, sys
from rq.utils import import_attribute
from app.bootstrap.notifier import run_notifier
import_attribute({SEND!r})
import_attribute({SUMMARY!r})
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {{"ccxt", "aiohttp"}})))
"""


def test_the_notifier_imports_no_venue_library_to_start_and_run_its_jobs():
    done = subprocess.run(
        [sys.executable, "-c", START_AND_RESOLVE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
