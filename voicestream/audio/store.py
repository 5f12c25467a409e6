"""A stream's recent (or whole) audio, kept compactly for work that looks back at it."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

from voicestream.timebase import SAMPLE_RATE


class SessionAudio:
    """A session's 16 kHz audio as int16, addressed by stream sample index: kept whole up to
    ``max_s`` seconds; past that only the newest ``tail_s`` seconds are kept. Safe to append
    on one thread and slice on another (live speech reads a speaker's first sentence)."""

    def __init__(self, max_s: float, tail_s: float = 30.0) -> None:
        self.max_samples = int(max_s * SAMPLE_RATE)
        self.tail_samples = int(min(tail_s, max_s) * SAMPLE_RATE)
        self._chunks: list[npt.NDArray[np.int16]] = []
        self.start = 0  # stream sample index of the first kept sample
        self.end = 0  # stream sample index after the last sample
        self.complete = True  # nothing was dropped
        self._lock = threading.Lock()

    def append(self, samples: npt.NDArray[np.float32]) -> None:
        """Add the next float32 samples ``(n,)``."""
        chunk = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        with self._lock:
            self._chunks.append(chunk)
            self.end += samples.size
            if self.end - self.start > self.max_samples:
                keep = self.tail_samples
                tail = self._slice(self.end - keep, self.end)
                self._chunks = [(tail * 32767).astype(np.int16)]
                self.start = self.end - keep
                self.complete = False

    def slice_samples(self, start: int, end: int) -> npt.NDArray[np.float32]:
        """Float32 samples of stream indexes ``[start, end)`` that are kept (clipped to them)."""
        with self._lock:
            return self._slice(start, end)

    def _slice(self, start: int, end: int) -> npt.NDArray[np.float32]:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        whole = self._chunks[0] if self._chunks else np.zeros(0, np.int16)
        lo, hi = max(start, self.start) - self.start, max(min(end, self.end), self.start) - self.start
        out: npt.NDArray[np.float32] = whole[lo:hi].astype(np.float32) / np.float32(32767)
        return out

    @property
    def end_s(self) -> float:
        """Stream seconds received."""
        return self.end / SAMPLE_RATE
