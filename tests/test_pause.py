"""Speech synthesis pauses while captions decode: real processes stopped and resumed, the
share of time they may be stopped bounded, helpers that die with the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from tests.procs import children, cpu_s, state, wait_gone
from voicestream.live.pause import PauseWhileBusy


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    """A process that keeps the CPU busy, as synthesis does."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield proc
    proc.send_signal(signal.SIGCONT)
    proc.kill()
    proc.wait()


def test_a_watched_process_is_stopped_while_any_job_runs(worker: subprocess.Popen[bytes]) -> None:
    gate = PauseWhileBusy()
    gate.watch(lambda: worker.pid)
    time.sleep(0.2)
    assert state(worker.pid) == "R"
    first, second = threading.Event(), threading.Event()

    def job(until: threading.Event) -> None:
        with gate.busy():
            until.wait(10)

    jobs = [threading.Thread(target=job, args=(e,)) for e in (first, second)]
    for t in jobs:
        t.start()
    time.sleep(0.2)
    assert state(worker.pid) == "T"
    used = cpu_s(worker.pid)
    time.sleep(0.5)
    assert cpu_s(worker.pid) == used  # stopped: no CPU at all
    first.set()
    jobs[0].join()
    assert state(worker.pid) == "T"  # one job still runs
    second.set()
    jobs[1].join()
    time.sleep(0.2)
    assert state(worker.pid) == "R"
    assert gate.stops == 1 and 0.5 < gate.stopped_total_s < 5


def test_what_a_helper_runs_is_stopped_with_it() -> None:
    """A helper leading a process group of its own (as the speech helper does) is stopped
    with the programs it runs (ffmpeg, a phonemizer): they share the CPU with captions too."""
    script = "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'while True: pass']); p.wait()"
    helper = subprocess.Popen([sys.executable, "-c", script], process_group=0)
    try:
        deadline = time.monotonic() + 10
        while not (kids := children(helper.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        (child,) = kids
        gate = PauseWhileBusy()
        gate.watch(lambda: helper.pid)
        with gate.busy():
            time.sleep(0.2)
            assert state(helper.pid) == "T" and state(child) == "T"
            used = cpu_s(child)
            time.sleep(0.3)
            assert cpu_s(child) == used
        time.sleep(0.2)
        assert state(child) == "R"
    finally:
        os.killpg(helper.pid, signal.SIGKILL)
        helper.wait()


def test_the_share_of_time_stopped_is_bounded() -> None:
    """Jobs back to back for 20 s (fake clock): the watched process is never stopped more
    than 80% of any 10 s, and is stopped again once its share allows."""
    now = [0.0]
    sent: list[tuple[float, int]] = []
    gate = PauseWhileBusy(0.8, 10.0, clock=lambda: now[0], send=lambda pid, sig: sent.append((now[0], sig)))
    gate.watch(lambda: 42)
    for _ in range(200):  # overlapping jobs, 0.1 s apart: the CPU is never free
        with gate.busy():
            now[0] += 0.05
            with gate.busy():
                now[0] += 0.05
    assert sent[0] == (0.0, signal.SIGSTOP)
    assert [s for _, s in sent] == [signal.SIGSTOP, signal.SIGCONT] * (len(sent) // 2)
    assert gate.stopped_s(now[0]) <= 8.0 + 0.1
    assert 0.75 * now[0] <= gate.stopped_total_s <= 0.85 * now[0]  # stopped most of the time, not all of it
    assert gate.stops >= 2


def test_a_process_that_exited_is_no_error() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    gate = PauseWhileBusy()
    gate.watch(lambda: proc.pid)
    with gate.busy():
        pass
    gate.watch(lambda: None)  # a helper not started yet
    with gate.busy():
        pass


def test_a_stopped_helper_dies_with_its_server() -> None:
    """The server process exits (even killed) while its helper is stopped: the helper goes too."""
    script = textwrap.dedent("""
        import os, signal
        from voicestream.tts.phonemes import PHONEMIZER
        PHONEMIZER.phonemize("en-us", "hello")
        print(PHONEMIZER.helper.pid, flush=True)
        os.kill(PHONEMIZER.helper.pid, signal.SIGSTOP)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.split()[0])
    gone = wait_gone(pid, 5.0)
    if not gone:
        os.kill(pid, signal.SIGKILL)
    assert gone, "the stopped helper outlived its parent"
