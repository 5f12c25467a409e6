"""Whisper's own translation (``task="translate"``): speech in any language to English text."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from voicestream.asr import AsrEngine, DecodeOptions
from voicestream.asr.guards import GuardSettings, apply_guards
from voicestream.errors import ModelError
from voicestream.messages import Word, join_words
from voicestream.sentences import ends_sentence
from voicestream.timebase import SAMPLE_RATE
from voicestream.translate.base import Sentence

PAD_S = 0.2
"""Silence (s) the sentence audio is padded with on each side: Whisper drops edge words less."""
PASSAGE_S = 28.0
"""Consecutive sentences are translated together in passages of at most this much audio
(s): Whisper translates a sentence better with its neighbours, as its own
``task="translate"`` does over 30 s windows (see :func:`passages`)."""
SPEECH_GUARDS = GuardSettings(no_speech_prob=1.0)
"""Loop guards only: a sentence's audio is known to be speech."""
RETRY_TEMPERATURE = 0.4
"""Whisper sometimes ignores the task and writes the source language (often for Chinese);
such a sentence is decoded again once, sampling at this temperature."""


def latin_share(text: str) -> float:
    """Share of the letters in ``text`` that are Latin (1.0 for text without letters)."""
    letters = [c for c in text if c.isalpha()]
    return sum(c.isascii() or "\u00c0" <= c <= "\u024f" for c in letters) / len(letters) if letters else 1.0


def passages(durations_s: Sequence[float], limit_s: float = PASSAGE_S) -> list[list[int]]:
    """Consecutive sentences (by index) grouped so that each group's audio (``durations_s``,
    s, plus padding) is at most ``limit_s``; a longer sentence is a group of its own."""
    groups: list[list[int]] = []
    total = limit_s + 1.0
    for k, duration in enumerate(durations_s):
        if total + duration > limit_s - 2 * PAD_S:
            groups.append([])
            total = 0.0
        groups[-1].append(k)
        total += duration
    return groups


def share_out(words: Sequence[Word], bounds_s: Sequence[float]) -> list[list[Word]]:
    """Translated ``words`` (passage seconds) shared among the sentences whose audio ends
    at ``bounds_s`` (passage seconds, increasing): a translated sentence goes whole to the
    source sentence that holds most of its words (by word middle), and is split by word
    middles only where that would leave a source sentence with nothing. Order is kept."""
    n = len(bounds_s)
    place = [min(n - 1, bisect.bisect_left(bounds_s, (w.start_s + w.end_s) / 2)) for w in words]
    for k in range(1, len(place)):  # word times from translation are rough: never go back
        place[k] = max(place[k], place[k - 1])
    runs: list[tuple[int, int]] = []  # English sentences as (first, end) word indices
    first = 0
    for k, w in enumerate(words):
        if k == len(words) - 1 or ends_sentence(w, words[k + 1]):
            runs.append((first, k + 1))
            first = k + 1
    whole = list(place)
    for a, b in runs:
        if len(set(place[a:b])) > 1:
            majority = max(set(place[a:b]), key=lambda s: (place[a:b].count(s), -s))
            whole[a:b] = [majority] * (b - a)
    for k in range(1, len(whole)):
        whole[k] = max(whole[k], whole[k - 1])
    # a source sentence that had words and lost them all keeps its split share
    chosen = whole if set(place) <= set(whole) else place
    out: list[list[Word]] = [[] for _ in range(n)]
    for w, k in zip(words, chosen, strict=True):
        out[k].append(w)
    return out


class WhisperTranslator:
    """Re-decodes the sentences' audio with ``task="translate"``, a passage of consecutive
    sentences at a time, and shares the English out among them by time. Needs a
    multilingual model; English only as target."""

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
        if not self.supports(source, target):
            raise ModelError(f"whisper translates only into English with a multilingual model, not {source}->{target}")
        audios: list[npt.NDArray[np.float32]] = []
        for sentence in sentences:
            if sentence.audio is None or sentence.audio.size == 0:
                raise ModelError("whisper translates speech: this sentence has no audio")
            audios.append(sentence.audio)
        # the sentence is known to be speech: no decode may be dropped as silence
        options = replace(self.decode, language=source, task="translate", initial_prompt=None, no_speech_threshold=None)
        out: list[str] = []
        for group in passages([a.size / SAMPLE_RATE for a in audios], PASSAGE_S):
            out += self._passage([audios[k] for k in group], options)
        return out

    def _passage(self, audios: list[npt.NDArray[np.float32]], options: DecodeOptions) -> list[str]:
        """English of consecutive sentences' audio decoded as one passage, shared out by
        time; sentences that get nothing are decoded on their own."""
        if len(audios) == 1:
            return [self._sentence(audios[0], options)]
        pad = np.zeros(round(PAD_S * SAMPLE_RATE), np.float32)
        bounds = list(PAD_S + np.cumsum([a.size for a in audios]) / SAMPLE_RATE)
        bounds[-1] += PAD_S
        words = self._words(np.concatenate([pad, *audios, pad]), options)
        if latin_share(join_words(words)) < 0.5:
            words = []
        shares = share_out(words, bounds)
        return [join_words(s) if s else self._sentence(a, options) for s, a in zip(shares, audios, strict=True)]

    def _sentence(self, audio: npt.NDArray[np.float32], options: DecodeOptions) -> str:
        """English of one sentence's audio, decoded again sampling when it is not English."""
        pad = np.zeros(round(PAD_S * SAMPLE_RATE), np.float32)
        audio = np.concatenate([pad, audio, pad])
        text = join_words(self._words(audio, options))
        if latin_share(text) < 0.5:
            retry = replace(options, temperatures=(RETRY_TEMPERATURE,), beam_size=1)
            again = join_words(self._words(audio, retry))
            text = again if latin_share(again) > latin_share(text) else text
        return text

    def _words(self, audio: npt.NDArray[np.float32], options: DecodeOptions) -> list[Word]:
        """Translated words of ``audio`` (seconds into it), with repetition loops cut back
        (the audio is speech: nothing is dropped as silence)."""
        segments = apply_guards(self.engine.transcribe(audio, 0.0, options), SPEECH_GUARDS)
        return [w for seg in segments for w in seg.words]
