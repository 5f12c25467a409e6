"""What the live server knows of its ASR replicas, for ``GET /metrics``: the decodes each
replica answered, calls sent again, and what a round trip costs beyond the decode itself.
Sans-I/O: times are passed in."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a replica reports with each decode.

    Attributes:
        pid: The replica's process id.
        decode_s: Seconds the replica spent decoding.
    """

    pid: int
    decode_s: float


class ReplicaMetrics:
    """Decodes by replica over the whole run and the last ``window_s`` seconds. Thread-safe
    (the inference workers record, the event loop reads)."""

    def __init__(self, window_s: float = 60.0, overheads: int = 512) -> None:
        self.window_s = window_s
        self.calls = 0
        self.retries = 0
        self.decode_s = 0.0
        self._recent: collections.deque[tuple[float, Decoded]] = collections.deque()
        self._overheads: collections.deque[float] = collections.deque(maxlen=overheads)
        self._by_replica: collections.Counter[int] = collections.Counter()
        self._lock = threading.Lock()

    def record(self, now: float, decoded: Decoded, round_trip_s: float) -> None:
        """One decode answered at ``now`` (s, monotonic) after ``round_trip_s`` seconds."""
        with self._lock:
            self.calls += 1
            self.decode_s += decoded.decode_s
            self._by_replica[decoded.pid] += 1
            self._recent.append((now, decoded))
            self._overheads.append(max(0.0, round_trip_s - decoded.decode_s))
            self._forget(now)

    def retried(self) -> None:
        """One call sent again after its replica failed it."""
        with self._lock:
            self.retries += 1

    def summary(self, now: float) -> dict[str, Any]:
        """``replicas_answering`` (replicas that decoded in the window), ``busy`` (their share
        of the window spent decoding, 0-1), ``calls``, ``retries``, ``decode_s``,
        ``overhead_ms`` (p50/p95 of round trip minus decode: queueing, transfer, routing) and
        ``calls_by_replica`` (pid: decodes, over the run)."""
        with self._lock:
            self._forget(now)
            pids = {d.pid for _, d in self._recent}
            busy = sum(d.decode_s for _, d in self._recent) / (self.window_s * len(pids)) if pids else 0.0
            overhead = np.array(self._overheads) * 1000
            p50, p95 = np.percentile(overhead, [50, 95]) if overhead.size else (0.0, 0.0)
            return {
                "replicas_answering": len(pids), "busy": round(min(1.0, busy), 3), "calls": self.calls,
                "retries": self.retries, "decode_s": round(self.decode_s, 2),
                "overhead_ms": {"p50": round(float(p50), 1), "p95": round(float(p95), 1)},
                "calls_by_replica": {str(pid): n for pid, n in sorted(self._by_replica.items())},
            }  # fmt: skip

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - self.window_s:
            self._recent.popleft()
