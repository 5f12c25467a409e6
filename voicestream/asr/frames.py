"""Encoder windows fitted to the audio: Whisper pads every input to 30 s, and the encoder
costs the same for 3 s as for 30 s of padded frames; encoding only the frames that hold
audio (plus a margin) cuts that cost in proportion."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

FRAMES_PER_SECOND = 100
"""Whisper log-mel frames per second (hop of 160 samples at 16 kHz)."""
FULL_WINDOW_FRAMES = 3000
"""Whisper's native input: 30 s of log-mel frames."""
DEFAULT_MARGIN_FRAMES = 300
"""Silence frames kept after the audio in a fitted window (see benchmarks/fitted_windows.py)."""


def fitted_frames(
    content_frames: int, total_frames: int = FULL_WINDOW_FRAMES, margin: int = DEFAULT_MARGIN_FRAMES
) -> int:
    """Encoder input length for ``content_frames`` of real audio.

    Rounded up to the next 100 frames plus ``margin`` frames of padding, never more
    than ``total_frames``. Encoding only this much instead of the padded 30 s cuts
    the encoder cost in proportion (benchmarks/fitted_windows.py). Measured here (base, 18
    clips): WER 5.41% padded, 3.78% with a 100-frame margin but fewer punctuation
    marks, 4.05% with 300 frames and as much punctuation as padded; 2.5x faster.
    """
    return min(total_frames, math.ceil(content_frames / 100) * 100 + margin)


def content_frames(features: npt.NDArray[np.float32]) -> int:
    """Frames before the zero padding that faster-whisper appends (features ``(..., 80, T)``)."""
    columns = np.flatnonzero(np.any(features.reshape(-1, features.shape[-1]) != 0.0, axis=0))
    return int(columns[-1]) + 1 if columns.size else 0


def fitted_model_class() -> type[Any]:
    """faster-whisper's ``WhisperModel`` with :func:`fitted_frames` applied to every encoder input."""
    from faster_whisper import WhisperModel  # faster-whisper loads CTranslate2: imported when a model is used

    class FittedWhisperModel(WhisperModel):  # type: ignore[misc]
        """faster-whisper's model with the encoder input cut to the audio it holds.

        ``margin_frames`` of ``None`` restores the padded 30 s input.
        """

        margin_frames: int | None = DEFAULT_MARGIN_FRAMES

        def encode(self, features: npt.NDArray[np.float32]) -> Any:
            if self.margin_frames is not None:
                total = features.shape[-1]
                frames = fitted_frames(content_frames(features), total, self.margin_frames)
                features = np.ascontiguousarray(features[..., :frames])
            return super().encode(features)

    return FittedWhisperModel
