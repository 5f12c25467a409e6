"""Whisper's own translation (``task="translate"``): speech in any language to English text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from voicestream.asr import AsrEngine, DecodeOptions
from voicestream.errors import ModelError
from voicestream.translate.base import Sentence

PAD_S = 0.2
"""Silence (s) the sentence audio is padded with on each side: Whisper drops edge words less."""
RETRY_TEMPERATURE = 0.4
"""Whisper sometimes ignores the task and writes the source language (often for Chinese);
such a sentence is decoded again once, sampling at this temperature."""


def latin_share(text: str) -> float:
    """Share of the letters in ``text`` that are Latin (1.0 for text without letters)."""
    letters = [c for c in text if c.isalpha()]
    return sum(c.isascii() or "\u00c0" <= c <= "\u024f" for c in letters) / len(letters) if letters else 1.0


class WhisperTranslator:
    """Re-decodes each sentence's audio with ``task="translate"``: translations are aligned to
    the source sentences by construction. Needs a multilingual model; English only as target."""

    name = "whisper"

    def __init__(self, engine: AsrEngine, decode: DecodeOptions | None = None) -> None:
        self.engine = engine
        self.decode = decode or DecodeOptions()

    def supports(self, source: str, target: str) -> bool:
        """Any source language to English, with a multilingual model."""
        return self.engine.multilingual and target == "en" and source != "en"

    def pairs(self) -> list[str]:
        """``["*->en"]`` with a multilingual model, else nothing."""
        return ["*->en"] if self.engine.multilingual else []

    def translate(self, sentences: Sequence[Sentence], source: str, target: str) -> list[str]:
        """English text of each sentence's audio."""
        import numpy as np

        if not self.supports(source, target):
            raise ModelError(f"whisper translates only into English with a multilingual model, not {source}->{target}")
        # the sentence is known to be speech: no decode may be dropped as silence
        options = replace(self.decode, language=source, task="translate", initial_prompt=None, no_speech_threshold=None)
        pad = np.zeros(int(PAD_S * 16000), np.float32)
        out: list[str] = []
        for sentence in sentences:
            if sentence.audio is None or sentence.audio.size == 0:
                raise ModelError("whisper translates speech: this sentence has no audio")
            audio = np.concatenate([pad, sentence.audio, pad])
            text = " ".join(s.text for s in self.engine.transcribe(audio, 0.0, options)).strip()
            if latin_share(text) < 0.5:
                retry = replace(options, temperatures=(RETRY_TEMPERATURE,), beam_size=1)
                again = " ".join(s.text for s in self.engine.transcribe(audio, 0.0, retry)).strip()
                text = again if latin_share(again) > latin_share(text) else text
            out.append(text)
        return out
