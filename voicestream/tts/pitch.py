"""A speaker's pitch range from their turns: picks a voice of the same range when casting."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from voicestream.timebase import SAMPLE_RATE, seconds_to_samples
from voicestream.tts.base import Gender

MALE_BELOW_HZ = 165.0
"""Median F0 (Hz) under which a voice counts as low (adult male range ~85-155 Hz, female ~165-255 Hz)."""


def median_f0(
    samples: npt.NDArray[np.float32], spans: Sequence[tuple[float, float]], max_s: float = 30.0
) -> float | None:
    """Median fundamental frequency (Hz) of the loud frames of ``samples`` (16 kHz mono) inside
    ``spans`` (s), from at most ``max_s`` seconds; ``None`` when too little is voiced."""
    import librosa  # librosa comes with the dub extra and is slow to import

    pieces, total = [], 0
    for start, end in spans:
        piece = samples[seconds_to_samples(start) : seconds_to_samples(end)]
        pieces.append(piece)
        total += piece.size
        if total >= seconds_to_samples(max_s):
            break
    if total < seconds_to_samples(0.5):
        return None
    audio = np.concatenate(pieces).astype(np.float32)
    frame, hop = 1024, 256
    f0 = librosa.yin(audio, fmin=60.0, fmax=400.0, sr=SAMPLE_RATE, frame_length=frame, hop_length=hop)
    rms = librosa.feature.rms(y=audio, frame_length=frame, hop_length=hop)[0][: f0.size]
    loud = rms > max(np.percentile(rms, 60), 1e-4)
    voiced = f0[: rms.size][loud & (f0[: rms.size] > 61) & (f0[: rms.size] < 399)]
    return float(np.median(voiced)) if voiced.size >= 20 else None


def gender_from_f0(f0: float | None) -> Gender:
    """``male`` below :data:`MALE_BELOW_HZ`, ``female`` above, ``unknown`` without a pitch."""
    if f0 is None:
        return "unknown"
    return "male" if f0 < MALE_BELOW_HZ else "female"
