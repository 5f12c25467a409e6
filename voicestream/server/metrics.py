"""Server health figures for ``GET /metrics``: sessions, close codes, event-loop lag and the
process's own resources (threads, file descriptors, children, RSS, CPU)."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any, Protocol, runtime_checkable

import numpy as np
import psutil

LAG_PERIOD_S = 0.1
"""How often the loop-lag probe wakes (s)."""


@runtime_checkable
class ReportsMetrics(Protocol):
    """An engine with figures of its own for ``GET /metrics`` (the Ray ASR replicas')."""

    def metrics(self) -> dict[str, Any]:
        """JSON-ready figures."""
        ...


class LoopLag:
    """How late the event loop wakes a sleeping task: a probe sleeps ``LAG_PERIOD_S`` and
    records the overshoot; the last ``window`` samples are kept (60 s by default)."""

    def __init__(self, window: int = 600) -> None:
        self.samples: collections.deque[float] = collections.deque(maxlen=window)

    def summary_ms(self) -> dict[str, float]:
        """p50/p99/max lag (ms) over the window (zeros before the first sample)."""
        if not self.samples:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0}
        values = np.array(self.samples) * 1000
        p50, p99 = np.percentile(values, [50, 99])
        return {"p50": round(float(p50), 2), "p99": round(float(p99), 2), "max": round(float(values.max()), 2)}

    async def run(self) -> None:
        """Probe until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(LAG_PERIOD_S)
            self.samples.append(max(0.0, loop.time() - started - LAG_PERIOD_S))


class Counters:
    """Sessions opened and connections closed, by close code (``gone`` = the client vanished)."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed: collections.Counter[str] = collections.Counter()
        self.started = time.monotonic()

    def close(self, code: int | str) -> None:
        """Count one connection that ended with ``code``."""
        self.closed[str(code)] += 1


def process_stats() -> dict[str, Any]:
    """This process's id, threads, open file descriptors, child processes, RSS (MB) and CPU (s)."""
    proc = psutil.Process()
    with proc.oneshot():
        cpu = proc.cpu_times()
        fds = proc.num_fds() if hasattr(proc, "num_fds") else len(proc.open_files())
        return {
            "pid": proc.pid, "threads": proc.num_threads(), "open_fds": fds,
            "children": len(proc.children(recursive=True)),
            "rss_mb": round(proc.memory_info().rss / 2**20, 1), "cpu_s": round(cpu.user + cpu.system, 3),
        }  # fmt: skip
