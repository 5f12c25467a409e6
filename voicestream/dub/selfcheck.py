"""Self-check: Whisper listens to every synthesized clip and compares it with what it should say."""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass

import numpy as np
import soxr

from voicestream.asr import AsrEngine, DecodeOptions
from voicestream.messages import Word, join_words
from voicestream.timebase import SAMPLE_RATE
from voicestream.tts.base import Speech

WINDOW_S = 28.0
MIN_WINDOW_S = 3.0
"""Shortest audio given to Whisper: sub-second clips alone make it hallucinate ("Hola Hola
Hola ..."); padded with silence to 3 s they read back (measured on the dub tests' clips)."""


def normalize(text: str) -> str:
    """Case-folded ``text`` without punctuation or symbols, single-spaced (NFKC)."""
    kept = [" " if unicodedata.category(c)[0] in "PSZ" else c for c in unicodedata.normalize("NFKC", text.casefold())]
    return " ".join("".join(kept).split())


def similarity(expected: str, heard: str) -> float:
    """Character-level similarity (0..1, difflib's ratio) of the normalized texts without
    spaces: the same for languages written with and without them."""
    a, b = normalize(expected).replace(" ", ""), normalize(heard).replace(" ", "")
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


@dataclass(frozen=True, slots=True)
class Check:
    """What Whisper heard in a clip and how close it is to the text (0..1)."""

    heard: str
    similarity: float


class ClipChecker:
    """Transcribes clips in the target language with a shared Whisper engine (greedy, the
    expected text given as the draft hypothesis, so a clip that says it verifies in one pass)."""

    def __init__(self, engine: AsrEngine, language: str) -> None:
        """``engine`` must speak ``language`` (a multilingual model unless it is English)."""
        self._engine = engine
        self._options = DecodeOptions(language=language, beam_size=1, temperatures=(0.0,), no_speech_threshold=None)

    def check(self, speech: Speech, expected: str) -> Check:
        """Transcribe ``speech`` and score it against ``expected``."""
        audio = speech.samples
        if speech.sample_rate != SAMPLE_RATE:
            audio = soxr.resample(audio, speech.sample_rate, SAMPLE_RATE).astype(np.float32)
        lead = np.zeros(SAMPLE_RATE // 5, np.float32)
        tail = np.zeros(max(SAMPLE_RATE // 5, round(MIN_WINDOW_S * SAMPLE_RATE) - lead.size - audio.size), np.float32)
        audio = np.concatenate([lead, audio, tail])
        words: list[Word] = []
        step = round(WINDOW_S * SAMPLE_RATE)
        for start in range(0, audio.size, step):
            hypothesis = expected if audio.size <= step else None
            for seg in self._engine.transcribe(audio[start : start + step], 0.0, self._options, hypothesis):
                words.extend(seg.words)
        heard = join_words(words)
        return Check(heard, similarity(expected, heard))
