"""Pitch-preserving time stretch (Rubber Band through ffmpeg's ``rubberband`` filter)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from voicestream.errors import FfmpegMissingError, MediaDecodeError
from voicestream.media import find_tool

Stretch = Callable[[npt.NDArray[np.float32], int, float], npt.NDArray[np.float32]]
"""A time stretch with :func:`stretch`'s arguments and result (here, or in a helper process)."""


def stretch(samples: npt.NDArray[np.float32], sample_rate: int, tempo: float) -> npt.NDArray[np.float32]:
    """``samples`` (float32 ``(n,)`` mono at ``sample_rate`` Hz) played ``tempo`` times faster
    (``tempo`` < 1 slower) at the same pitch; length about ``n / tempo``.

    Raises:
        FfmpegMissingError: no ffmpeg; MediaDecodeError: ffmpeg lacks the rubberband filter.
    """
    if abs(tempo - 1.0) < 1e-3 or samples.size == 0:
        return samples
    argv = [
        find_tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-protocol_whitelist", "pipe", "-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0",
        "-af", f"rubberband=tempo={tempo:.5f}:transients=smooth:window=standard",
        "-f", "f32le", "-ac", "1", "-ar", str(sample_rate), "pipe:1",
    ]  # fmt: skip
    try:
        proc = subprocess.run(argv, input=samples.astype(np.float32).tobytes(), capture_output=True, check=False)
    except FileNotFoundError as e:
        raise FfmpegMissingError("ffmpeg was not found on PATH") from e
    if proc.returncode != 0:
        raise MediaDecodeError(
            "ffmpeg could not time-stretch (does this ffmpeg have the rubberband filter?): "
            + proc.stderr.decode(errors="replace").strip()[-300:]
        )
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()


def cut_with_fade(samples: npt.NDArray[np.float32], length: int, fade: int) -> npt.NDArray[np.float32]:
    """The first ``length`` samples of ``samples`` with a linear fade-out over the last ``fade``."""
    if samples.size <= length:
        return samples
    out = samples[:length].copy()
    n = min(fade, length)
    if n > 0:
        out[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return out
