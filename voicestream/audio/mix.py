"""Sans-I/O mixing: dubbed clips on a timeline, ducked over the background."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

MIX_RATE = 48_000
"""Sample rate (Hz) of the mix and of the dubbed audio track."""
FRAME_S = 0.01


def place(
    clips: Sequence[tuple[float, npt.NDArray[np.float32]]], n: int, rate: int = MIX_RATE
) -> npt.NDArray[np.float32]:
    """A mono track of ``n`` samples with each ``(start_s, samples)`` clip added at ``start_s``
    (clips running past the end are cut)."""
    track = np.zeros(n, dtype=np.float32)
    for start_s, clip in clips:
        a = max(0, round(start_s * rate))
        b = min(n, a + clip.size)
        if b > a:
            track[a:b] += clip[: b - a]
    return track


def duck_gain(
    speech: npt.NDArray[np.float32],
    rate: int = MIX_RATE,
    duck_db: float = 8.0,
    attack_s: float = 0.06,
    release_s: float = 0.35,
    threshold: float = 1e-3,
) -> npt.NDArray[np.float32]:
    """Background gain ``(n,)``: ``-duck_db`` dB wherever ``speech`` (mono ``(n,)``) is active,
    reached ``attack_s`` before speech starts and held ``release_s`` after it ends, with linear
    ramps between (no clicks)."""
    n = speech.size
    hop = max(1, round(FRAME_S * rate))
    frames = -(-n // hop)
    padded = np.zeros(frames * hop, dtype=np.float32)
    padded[:n] = speech
    rms = np.sqrt((padded.reshape(frames, hop) ** 2).mean(axis=1))
    active = (rms > threshold).astype(np.float32)
    before, after = round(attack_s / FRAME_S), round(release_s / FRAME_S)
    kernel = np.ones(before + after + 1, dtype=np.float32)
    held = np.convolve(active, kernel, mode="full")[after : after + frames] > 0  # look-ahead and hold
    ramp = max(1, before)
    smooth = np.convolve(held.astype(np.float32), np.ones(ramp, dtype=np.float32) / ramp, mode="same")
    low = 10 ** (-duck_db / 20)
    gain_frames = 1.0 - (1.0 - low) * np.clip(smooth, 0.0, 1.0)
    centers = (np.arange(frames) + 0.5) * hop
    gain: npt.NDArray[np.float32] = np.interp(np.arange(n), centers, gain_frames).astype(np.float32)
    return gain


def mix(
    speech: npt.NDArray[np.float32], background: npt.NDArray[np.float32] | None, duck_db: float = 8.0
) -> npt.NDArray[np.float32]:
    """Stereo ``(2, n)``: mono ``speech`` ``(n,)`` centred over ``background`` ``(2, n)`` (or silence),
    the background ducked under the speech."""
    out = np.stack([speech, speech]).astype(np.float32)
    if background is not None:
        out += background[:, : speech.size] * duck_gain(speech, duck_db=duck_db)
    return out


def fit_length(audio: npt.NDArray[np.float32], n: int) -> npt.NDArray[np.float32]:
    """``(channels, m)`` audio cut or zero-padded to ``(channels, n)``."""
    if audio.shape[1] >= n:
        return audio[:, :n]
    return np.pad(audio, ((0, 0), (0, n - audio.shape[1])))
