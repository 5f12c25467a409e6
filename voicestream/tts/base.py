"""The synthesizer Protocol, its voices and the audio it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

Gender = Literal["female", "male", "unknown"]


@dataclass(frozen=True, slots=True)
class Voice:
    """One voice of one engine.

    Attributes:
        engine: Engine name (``piper``, ``kokoro``, ``espeak``, ``xtts``).
        name: The engine's name for the voice (model name, style name, espeak voice+variant).
        language: ISO 639-1 code the voice speaks here.
        gender: Perceived gender, used to cast voices to speakers of the same pitch range.
        quality: Rank among engines, higher is better (neural voices over formant synthesis).
        reference: For cloning engines: path of the speaker's reference clip (wav), else ``None``.
    """

    engine: str
    name: str
    language: str
    gender: Gender = "unknown"
    quality: int = 0
    reference: str | None = None

    @property
    def id(self) -> str:
        """``engine:name`` as the CLI's ``--voice`` takes it."""
        return f"{self.engine}:{self.name}"


@dataclass(frozen=True, slots=True)
class Speech:
    """Synthesized speech: float32 ``(n,)`` mono in [-1, 1] at ``sample_rate`` (Hz)."""

    samples: npt.NDArray[np.float32]
    sample_rate: int

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.size / self.sample_rate


class Synthesizer(Protocol):
    """Turns text into speech with one of its voices. Shared, holds no per-job state."""

    name: str

    def voices(self, language: str) -> list[Voice]:
        """Voices that speak ``language`` (ISO 639-1), best first; empty when none."""
        ...

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Speech:
        """Speak ``text`` with ``voice``; ``speed`` > 1 speaks faster (1.0 = the voice's own rate)."""
        ...


def trim_silence(speech: Speech, threshold: float = 0.01, pad_s: float = 0.03) -> Speech:
    """``speech`` without leading/trailing near-silence (peak below ``threshold``), keeping
    ``pad_s`` seconds on each side, so a clip placed at a turn start speaks at once."""
    loud = np.flatnonzero(np.abs(speech.samples) > threshold)
    if loud.size == 0:
        return speech
    pad = round(pad_s * speech.sample_rate)
    start, end = max(0, int(loud[0]) - pad), min(speech.samples.size, int(loud[-1]) + 1 + pad)
    return Speech(speech.samples[start:end], speech.sample_rate)
