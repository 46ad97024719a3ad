"""The running job's heartbeat, renewed by one thread for the worker's life.

A thread started and joined around every job cost about 0.15 ms of CPU and more of wall time,
paid between a job's dequeue and its start (docs/benchmarks.md); this one waits for the next
job instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

J = TypeVar("J")
E = TypeVar("E")
log = logging.getLogger("signalgate")


class JobBeats(Generic[J, E]):
    """Calls `beat(job, execution)` every `every_seconds` while a job runs (between `begin`
    and `end`), never after `end` has returned: a beat being written when the job ends is
    waited for, and no other is written for that job."""

    def __init__(self, beat: Callable[[J, E], None], every_seconds: float) -> None:
        self._beat = beat
        self._every = every_seconds
        self._changed = threading.Condition()
        self._writing = threading.Lock()  # held while a beat is written
        self._running: tuple[J, E] | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def begin(self, job: J, execution: E) -> None:
        with self._changed:
            self._running = (job, execution)
            self._changed.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)
            self._thread.start()

    def end(self) -> None:
        with self._changed:
            self._running = None
            self._changed.notify()
        with self._writing:  # a beat being written finishes first
            pass

    def close(self) -> None:
        """End the thread (the worker is done): after `end`, or a job still running stops
        being beaten."""
        with self._changed:
            self._closed, self._running = True, None
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()

    def _other_than(self, running: tuple[J, E]) -> Callable[[], bool]:
        return lambda: self._running is not running

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._running is None and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                running = self._running
                assert running is not None
                self._changed.wait_for(self._other_than(running), self._every)
                if self._running is not running:
                    continue  # ended, or another job began: its own interval starts now
                # taken before the condition is let go: an `end` from now on waits for the beat
                self._writing.acquire()
            try:
                self._beat(*running)
            except Exception:  # the thread lives on: later jobs must be beaten all the same
                log.exception("the running job's heartbeat failed")
            finally:
                self._writing.release()
