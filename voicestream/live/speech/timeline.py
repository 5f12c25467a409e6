"""Translated speech events placed on the stream's timeline (what a listener heard)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr


def speech_track(events: Sequence[dict[str, Any]], rate: int, duration_s: float) -> npt.NDArray[np.float32]:
    """Mono float32 ``(n,)`` at ``rate`` (Hz): each ``speech`` event's audio from its ``start``
    (stream seconds), as long as the stream or the last clip, whichever is longer."""
    clips = []
    for e in events:
        if e.get("type") == "speech" and e.get("audio"):
            pcm = np.frombuffer(e["audio"], dtype="<i2").astype(np.float32) / 32768.0
            if e["sample_rate"] != rate:
                pcm = soxr.resample(pcm, e["sample_rate"], rate).astype(np.float32)
            clips.append((round(e["start"] * rate), pcm))
    n = max([round(duration_s * rate)] + [a + c.size for a, c in clips])
    track = np.zeros(n, dtype=np.float32)
    for a, c in clips:
        track[a : a + c.size] += c
    return track
