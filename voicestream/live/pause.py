"""Keep work that may lag (speech synthesis) off the CPU while captions decode.

A lower priority is not enough where cores share execution units, caches or a clock
(virtual CPUs, hyperthreads): a nice-19 busy loop in another process still made a decode
12-25% slower here (benchmarks/live_dub.py). A stopped process costs nothing, so the
server runs synthesis in a helper process and stops it (SIGSTOP) while any decode runs.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TypeVar

from voicestream.helper import signal_group

T = TypeVar("T")

PidSource = Callable[[], int | None]
"""The current process id of a helper (``None`` while it has none)."""


class PauseWhileBusy:
    """Stops the watched processes (with the process group each leads, if any: what they
    run) while any job is :meth:`busy` and resumes them when none is.

    They are never kept stopped for more than ``max_share`` of the last ``window_s`` seconds:
    under a load that leaves the captions no gaps, the watched work still gets the rest
    (it then lags, and live speech is skipped when late, as before). Thread-safe. Linux and
    other POSIX systems; elsewhere it does nothing.
    """

    def __init__(
        self,
        max_share: float = 0.8,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        send: Callable[[int, int], None] = signal_group,
    ) -> None:
        self.max_share = max_share
        self.window_s = window_s
        self._clock = clock
        self._send = send
        self._sources: list[PidSource] = []
        self._busy = 0
        self._stopped: list[int] = []
        self._since: float | None = None  # when the current stop began
        self._history: deque[tuple[float, float]] = deque()  # finished stops (start, end), s
        self._lock = threading.Lock()
        self.enabled = hasattr(signal, "SIGSTOP")
        self.stops = 0
        """Times the watched processes were stopped."""
        self.stopped_total_s = 0.0
        """Seconds they spent stopped, over the finished stops."""

    def watch(self, source: PidSource) -> None:
        """Stop ``source()``'s process too while jobs are busy."""
        with self._lock:
            self._sources.append(source)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """A job that must not share the CPU runs inside this block."""
        with self._lock:
            self._busy += 1
            self._update()
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                self._update()

    def during(self, fn: Callable[[], T]) -> Callable[[], T]:
        """``fn`` wrapped to run inside :meth:`busy` (for an inference runner)."""

        def run() -> T:
            with self.busy():
                return fn()

        return run

    def stopped_s(self, now: float) -> float:
        """Seconds the watched processes were stopped in the ``window_s`` before ``now``."""
        start = now - self.window_s
        while self._history and self._history[0][1] <= start:
            self._history.popleft()
        past = sum(min(end, now) - max(begin, start) for begin, end in self._history)
        return past + (now - max(self._since, start) if self._since is not None else 0.0)

    def _update(self) -> None:
        if not self.enabled:
            return
        now = self._clock()
        within = self.stopped_s(now) < self.max_share * self.window_s
        if self._since is None and self._busy and within:
            self._stopped = [pid for source in self._sources if (pid := source()) is not None]
            if self._stopped:
                self._signal(signal.SIGSTOP)
                self._since = now
                self.stops += 1
        elif self._since is not None and (not self._busy or not within):
            self._signal(signal.SIGCONT)
            self._history.append((self._since, now))
            self.stopped_total_s += now - self._since
            self._since, self._stopped = None, []

    def _signal(self, sig: int) -> None:
        for pid in self._stopped:
            with contextlib.suppress(ProcessLookupError, PermissionError):  # a helper that exited
                self._send(pid, sig)
