"""Inference off the event loop: a bounded number of jobs on a fixed pool of worker threads."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from voicestream.live.pause import PauseWhileBusy

T = TypeVar("T")
log = logging.getLogger("voicestream.live")


class RunnerClosedError(RuntimeError):
    """The runner was closed before the job started."""


class InferenceRunner:
    """Runs blocking model work in worker threads (CTranslate2 and onnxruntime release the GIL).

    At most ``max_pending`` jobs wait or run at once; callers beyond that wait their
    turn in FIFO order on the semaphore. A session submits one job at a time, so the
    wait is bounded by the number of sessions. Admitted jobs start in order of their
    deadline: when they were submitted plus their ``slack_s`` (:meth:`run`), so work that
    may wait (the revision of text already shown) yields to captions submitted meanwhile.
    """

    def __init__(self, workers: int, max_pending: int, nice: int = 0) -> None:
        """``nice`` > 0 lowers the workers' CPU priority (Linux: per thread), so work that may
        lag (speech synthesis) yields the cores to work that may not (captions)."""
        self.workers = workers
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="voicestream-infer", initializer=_lower_priority, initargs=(nice,)
        )
        self._slots = asyncio.Semaphore(max_pending)
        self.busy = 0
        """Jobs waiting or running now."""
        self._spans: deque[tuple[float, float]] = deque(maxlen=4096)  # (start, end) of recent jobs
        self._running: dict[int, float] = {}  # start of each job running now, by job number
        self._jobs = 0
        self._idle = workers  # workers not holding a job (event loop)
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []  # heap: (deadline, order, turn)
        self._order = itertools.count()
        self._closed = False

    async def run(self, fn: Callable[[], T], slack_s: float = 0.0, started: Callable[[], None] | None = None) -> T:
        """Run ``fn()`` on a worker thread and return its result (or raise its exception).

        Args:
            slack_s: Seconds this job may wait for jobs submitted after it: it starts
                after every admitted job whose deadline (submission time plus its slack)
                comes before its own.
            started: Called on the event loop as the job goes to its worker; cancelling the
                call before that leaves ``fn`` unrun.

        Raises:
            RunnerClosedError: the runner was closed before the job started.
        """
        self.busy += 1
        try:
            async with self._slots:
                await self._turn(slack_s)
                if started is not None:
                    started()
                loop = asyncio.get_running_loop()
                try:
                    job = self._pool.submit(self._timed(fn))
                except RuntimeError:  # closed between our turn and here: the worker goes back
                    self._release()
                    raise RunnerClosedError("the inference runner is closed") from None
                job.add_done_callback(lambda _: _call_soon(loop, self._release))  # when the thread is done
                return await asyncio.wrap_future(job)
        finally:
            self.busy -= 1

    async def _turn(self, slack_s: float) -> None:
        """Wait until a worker is free and no admitted job with an earlier deadline waits."""
        if self._closed:
            raise RunnerClosedError("the inference runner is closed")
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (time.monotonic() + slack_s, next(self._order), turn))
        self._dispatch()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self._release()  # our worker was handed over as we were cancelled
            raise

    def _dispatch(self) -> None:
        """Hand free workers to the waiting jobs with the earliest deadlines (event loop)."""
        while self._idle > 0 and self._waiting:
            *_, turn = heapq.heappop(self._waiting)
            if turn.done():
                continue  # its caller was cancelled
            if self._closed:
                turn.set_exception(RunnerClosedError("the inference runner is closed"))
                continue
            self._idle -= 1
            turn.set_result(None)

    def _release(self) -> None:
        """A worker finished its job (event loop)."""
        self._idle += 1
        self._dispatch()

    def _timed(self, fn: Callable[[], T]) -> Callable[[], T]:
        """``fn`` noting when it ran (for :meth:`load`)."""

        def run() -> T:
            job, start = self._next_job(), time.monotonic()
            self._running[job] = start
            try:
                return fn()
            finally:
                del self._running[job]
                self._spans.append((start, time.monotonic()))

        return run

    def _next_job(self) -> int:
        self._jobs += 1
        return self._jobs

    def load(self, window_s: float = 5.0) -> float:
        """Share of the workers' time spent on jobs over the last ``window_s`` seconds (0-1)."""
        now = time.monotonic()
        since = now - window_s
        spans = list(self._spans) + [(start, now) for start in list(self._running.values())]
        used = sum(max(0.0, min(end, now) - max(start, since)) for start, end in spans if end > since)
        return min(1.0, used / (window_s * self.workers))

    def close(self) -> None:
        """Stop the workers after the jobs already running; jobs not started fail."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class Workers:
    """Where live sessions' work runs: ``inference`` (captions, speakers, exports) and
    ``speech`` (one lower-priority thread), and the ``pause`` that stops the speech helper
    while captions decode; ``revision``, when the sessions revise on a model copy of their
    own (its compute threads at low priority), is the thread that waits for it."""

    inference: InferenceRunner
    speech: InferenceRunner
    pause: PauseWhileBusy
    revision: InferenceRunner | None = None


REVISION_NICE = 10
"""Niceness of the revision model copy's compute thread (Linux, 0-19): under load the kernel
gives it about a tenth of a core that captions want, and all of one they leave."""


def started_at_low_priority(start: Callable[[], T], nice: int) -> T:
    """``start()`` (loading a model), with every thread this process started meanwhile (the
    model's compute threads) lowered to ``nice`` (Linux; elsewhere as is): the kernel then
    shares the cores in proportion to their weights (at 10, about a tenth of what a thread at 0
    gets) and preempts these for the others as they wake."""
    before = _threads()
    result = start()
    started = _threads() - before
    if before and not started:
        log.warning("no thread was started while loading: the revision model runs at normal priority")
    for tid in started:
        with contextlib.suppress(OSError):  # never raised above what it has (a server run under nice)
            os.setpriority(os.PRIO_PROCESS, tid, max(nice, os.getpriority(os.PRIO_PROCESS, tid)))
    return result


def _threads() -> set[int]:
    """Native ids of this process's threads (empty where ``/proc`` has none)."""
    try:
        return {int(t.name) for t in Path("/proc/self/task").iterdir()}
    except OSError:
        return set()


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    """``fn`` on ``loop`` from any thread (nothing once the loop is closed)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn)


def _lower_priority(nice: int) -> None:
    if nice > 0 and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
