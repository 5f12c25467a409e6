"""Silero VAD frame by frame for live streams: a shared model, per-stream recurrent state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FRAME = 512
"""Samples per VAD frame at 16 kHz (32 ms)."""
CONTEXT = 64
"""Samples of the previous frame the model sees with each frame."""


@dataclass
class VadState:
    """One stream's VAD memory (mutable; lives in the session).

    Attributes:
        h, c: LSTM state, shape ``(1, 1, 128)``.
        context: Last ``CONTEXT`` samples of the previous frame.
        pending: Samples not yet forming a whole frame, shape ``(< FRAME,)``.
    """

    h: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((1, 1, 128), np.float32))
    c: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((1, 1, 128), np.float32))
    context: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(CONTEXT, np.float32))
    pending: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))


class SileroFrameModel:
    """The Silero VAD v6 ONNX model bundled with faster-whisper, shared by all streams."""

    def __init__(self) -> None:
        import faster_whisper.vad  # faster-whisper loads CTranslate2: imported when a model is used
        import onnxruntime  # onnxruntime (native) loads with the model

        path = Path(faster_whisper.vad.__file__).parent / "assets" / "silero_vad_v6.onnx"
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self._session: Any = onnxruntime.InferenceSession(
            str(path), providers=["CPUExecutionProvider"], sess_options=opts
        )

    def process(self, state: VadState, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Speech probability of every frame that ``samples`` completes.

        Args:
            state: The stream's VAD state, updated in place.
            samples: float32, shape ``(n,)``, 16 kHz.

        Returns:
            float32 probabilities, shape ``(frames,)``, one per 512 samples.
        """
        audio = np.concatenate([state.pending, samples.astype(np.float32, copy=False)])
        frames = audio.size // FRAME
        state.pending = audio[frames * FRAME :].copy()
        if frames == 0:
            return np.zeros(0, np.float32)
        batch = audio[: frames * FRAME].reshape(frames, FRAME)
        contexts = np.vstack([state.context[None, :], batch[:-1, -CONTEXT:]])
        state.context = batch[-1, -CONTEXT:].copy()
        inputs = np.concatenate([contexts, batch], axis=1)  # shape: (frames, CONTEXT + FRAME)
        probs, state.h, state.c = self._session.run(None, {"input": inputs, "h": state.h, "c": state.c})
        return np.asarray(probs, dtype=np.float32).reshape(-1)
