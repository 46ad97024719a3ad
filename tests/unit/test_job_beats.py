"""The running job's heartbeat: one thread for the worker's life, beating while a job runs and
never after it ended."""

from __future__ import annotations

import threading
import time

from app.bootstrap.job_beats import JobBeats


def test_one_thread_beats_each_running_job_and_none_after_it_ended() -> None:
    beats: list[tuple[str, str, str]] = []
    writing = threading.Event()

    def beat(job: str, execution: str) -> None:
        beats.append((job, execution, threading.current_thread().name))
        writing.set()

    job_beats: JobBeats[str, str] = JobBeats(beat, every_seconds=0.02)
    threads_before = threading.active_count()
    for job in ("a", "b", "c"):
        writing.clear()
        job_beats.begin(job, f"exec-{job}")
        assert writing.wait(2)  # beaten while it runs
        job_beats.end()
        ended_at = len(beats)
        time.sleep(0.06)  # three intervals: no beat for an ended job
        assert len(beats) == ended_at

    assert {job for job, _, _ in beats} == {"a", "b", "c"}
    assert all(execution == f"exec-{job}" for job, execution, _ in beats)
    assert threading.active_count() == threads_before + 1  # one thread, still waiting
    assert {name for _, _, name in beats} == {"job-heartbeat"}
    job_beats.close()
    assert threading.active_count() == threads_before


def test_an_end_waits_for_a_beat_being_written() -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def slow_beat(job: str, _execution: str) -> None:
        started.set()
        release.wait(2)
        finished.append(job)

    job_beats: JobBeats[str, str] = JobBeats(slow_beat, every_seconds=0.01)
    job_beats.begin("a", "exec-a")
    assert started.wait(2)
    ending = threading.Thread(target=job_beats.end)
    ending.start()
    ending.join(0.1)
    assert ending.is_alive()  # still waiting for the beat
    release.set()
    ending.join(2)
    assert finished == ["a"]
    job_beats.close()


def test_a_beat_that_raises_leaves_the_next_jobs_beaten() -> None:
    """The thread outlives a beat's unexpected error: a dead one would leave every later job
    unbeaten, re-queued as abandoned while it still runs."""
    beats: list[str] = []
    beaten = threading.Event()

    def beat(job: str, _execution: str) -> None:
        beats.append(job)
        if job == "a":
            raise ValueError("a bug in one beat")
        beaten.set()

    job_beats: JobBeats[str, str] = JobBeats(beat, every_seconds=0.01)
    job_beats.begin("a", "exec-a")
    deadline = time.monotonic() + 2
    while not beats and time.monotonic() < deadline:
        time.sleep(0.01)
    job_beats.end()
    job_beats.begin("b", "exec-b")

    assert beaten.wait(2)
    job_beats.end()
    job_beats.close()
