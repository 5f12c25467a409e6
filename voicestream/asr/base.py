"""The ASR contract every engine meets, and the helpers all of them share: decoder options,
decoded segments, word timing, language codes."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
import numpy.typing as npt

from voicestream.messages import Word

if TYPE_CHECKING:
    from voicestream.asr.speculative import SpeculativeStats

Task = Literal["transcribe", "translate"]
"""Whisper's task: text in the spoken language, or English text (multilingual models)."""


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """How to decode one window.

    Attributes:
        language: ISO code, or ``None`` to use the language detected for the file.
        task: ``"transcribe"`` or ``"translate"`` (to English, multilingual models only).
        beam_size: Beam width; 1 is greedy.
        temperatures: Fallback temperatures tried when a guard trips.
        compression_ratio_threshold: gzip ratio above which a decode counts as repetitive.
        log_prob_threshold: Mean token log-probability below which a decode counts as failed.
        no_speech_threshold: With a failed log-prob, no-speech probability above which the
            window is treated as silence and yields nothing.
        initial_prompt: Text given to the decoder as previous context.
        hotwords: Names and terms to expect (:func:`voicestream.asr.vocabulary.vocabulary_text`),
            given before the prompt as faster-whisper's ``hotwords`` are.
        seed: Random seed of the sampling used by temperature fallback (a process's first
            sampled decodes repeat; later ones depend on the samples drawn before them).
        margin_frames: Silence frames (10 ms each) after the audio in the encoder's fitted
            window, at most the model's own (:data:`voicestream.asr.frames.DEFAULT_MARGIN_FRAMES`,
            used when ``None``); greedy windows on the step decoder only.
    """

    language: str | None = None
    task: Task = "transcribe"
    beam_size: int = 5
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    initial_prompt: str | None = None
    hotwords: str | None = None
    seed: int = 0
    margin_frames: int | None = None

    def __post_init__(self) -> None:
        if self.margin_frames is not None and self.margin_frames < 0:
            raise ValueError(f"margin_frames must be at least 0, not {self.margin_frames}")


@dataclass(frozen=True, slots=True)
class AsrSegment:
    """One decoded segment, times in absolute stream seconds.

    Attributes:
        start_s, end_s: Segment span (s).
        text: Decoded text, stripped.
        words: Word timings (s), in order.
        avg_logprob: Mean token log-probability.
        no_speech_prob: Probability of the no-speech token; NaN where it was not needed
            (a confident greedy decode: only low log-probabilities make it matter).
        compression_ratio: gzip compression ratio of the text.
        tokens: Decoded token ids (text tokens and, on the beam path, timestamps).
    """

    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    tokens: tuple[int, ...] = ()


class AsrEngine(Protocol):
    """Transcribes windows of at most 30 s. Shared across sessions, stateless per call."""

    name: str
    multilingual: bool

    @property
    def speculative(self) -> bool:
        """Whether greedy windows use the step decoder (and so accept drafts and fill stats)."""
        ...

    def detect_language(self, samples: npt.NDArray[np.float32]) -> tuple[str, float]:
        """Language code and its probability for ``samples`` (float32, shape ``(n,)``, 16 kHz)."""
        ...

    def transcribe(
        self,
        samples: npt.NDArray[np.float32],
        offset_s: float,
        options: DecodeOptions,
        hypothesis: str | None = None,
        stats: SpeculativeStats | None = None,
    ) -> list[AsrSegment]:
        """Decode ``samples`` (float32 ``(n,)``, 16 kHz, at most 30 s) starting at ``offset_s``.

        ``hypothesis`` is text the window is expected to hold (the previous streaming
        update's): greedy decoding verifies it as a draft instead of generating it token
        by token, with the same result. ``stats`` accumulates the drafting counts.
        """
        ...


def timed_words(raw: Iterable[tuple[float, float, str, float]], offset_s: float, duration_s: float) -> list[Word]:
    """Words from a decoder's ``(start, end, text, probability)`` (s into the window),
    placed at ``offset_s`` and kept inside the window; blank words are dropped."""
    end = offset_s + duration_s
    return [
        Word(clamp(offset_s + a, offset_s, end), clamp(offset_s + b, offset_s, end), text, float(p))
        for a, b, text, p in raw
        if text.strip()
    ]


def clamp(value: float, low: float, high: float) -> float:
    """``value`` limited to ``[low, high]``."""
    return min(max(value, low), high)


def language_codes() -> tuple[str, ...]:
    """Language codes Whisper knows (``en``, ``de``, ``yue``...)."""
    from faster_whisper.tokenizer import (
        _LANGUAGE_CODES,  # faster-whisper loads CTranslate2: imported when a model is used
    )

    return tuple(_LANGUAGE_CODES)


def resolve_compute_type(device: str, compute_type: str) -> str:
    """``default`` becomes int8 on CPU and float16 on CUDA; anything else passes through."""
    if compute_type != "default":
        return compute_type
    if device == "cpu":
        return "int8"
    if device == "cuda":
        return "float16"
    return "auto"


def default_cpu_threads() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
