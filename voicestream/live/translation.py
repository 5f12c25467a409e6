"""Live translation: finals are gathered into sentences, each finished sentence is translated.

:class:`SentenceCollector` is sans-I/O policy (finals in, finished sentences out);
:class:`LiveTranslator` (one per session) adds the translator and the recent audio that
speech translators (Whisper) need, and runs on the inference worker, never on the loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voicestream.audio.store import SessionAudio
from voicestream.live.events import TranslationEvent
from voicestream.messages import Word, join_words
from voicestream.sentences import ends_sentence
from voicestream.timebase import seconds_to_samples
from voicestream.translate.base import Sentence, Translator

KEEP_AUDIO_S = 60.0
"""Recent audio (s) kept for speech translators: whole up to this, then the newest half,
more than the longest live sentence in either case."""


MAX_GAP_S = 2.0
"""A pause this long (s) ends an unpunctuated sentence."""
MAX_WORDS = 40
"""An unpunctuated run this long is translated anyway (bounds the wait)."""


@dataclass(frozen=True, slots=True)
class FinishedSentence:
    """The confirmed words of a finished sentence; ``segment`` is the segment it ends in
    (live segments also break at short pauses, so a sentence may span several)."""

    segment: int
    words: tuple[Word, ...]


class SentenceCollector:
    """Final words accumulate until a sentence end, a long pause, a change of speaker,
    :data:`MAX_WORDS` words, or the end of the stream: sentences are translated whole, not
    pause-cut fragments, and each has one speaker."""

    def __init__(self, max_gap_s: float = MAX_GAP_S, max_words: int = MAX_WORDS) -> None:
        self.max_gap_s = max_gap_s
        self.max_words = max_words
        self._segment = 0
        self._words: list[Word] = []

    def add(self, segment: int, words: tuple[Word, ...]) -> list[FinishedSentence]:
        """A final's words; returns the sentences this finishes."""
        done: list[FinishedSentence] = []
        for word in words:
            if self._words and (
                word.start_s - self._words[-1].end_s > self.max_gap_s
                or word.speaker != self._words[-1].speaker
                or ends_sentence(self._words[-1], word)  # "U.S." ended it: the next word is a capital
            ):
                done += self.flush()
            self._segment = segment
            self._words.append(word)
            if ends_sentence(word) or len(self._words) >= self.max_words:
                done += self.flush()
        return done

    def flush(self) -> list[FinishedSentence]:
        """The unfinished sentence, if any."""
        done = [FinishedSentence(self._segment, tuple(self._words))] if self._words else []
        self._words = []
        return done


class LiveTranslator:
    """A session's translation into ``target``; :meth:`bind` names the translator and the
    source language once the stream's language is known (audio is kept from the start).
    """

    def __init__(self, target: str) -> None:
        self.translator: Translator | None = None  # bound once the stream's language is known
        self.source: str | None = None
        self.target = target
        self.collector = SentenceCollector()
        self.audio = SessionAudio(KEEP_AUDIO_S, tail_s=KEEP_AUDIO_S / 2)

    def bind(self, translator: Translator, source: str) -> None:
        """Translate from ``source`` with ``translator`` from now on."""
        self.translator, self.source = translator, source

    def add_audio(self, samples: npt.NDArray[np.float32]) -> None:
        """The session's next 16 kHz samples ``(n,)`` (the last :data:`KEEP_AUDIO_S` at least are kept)."""
        self.audio.append(samples)

    def audio_between(self, start_s: float, end_s: float) -> npt.NDArray[np.float32]:
        """The kept source audio from ``start_s`` to ``end_s`` (stream s): 16 kHz float32 ``(n,)``
        (any thread)."""
        return self.audio.slice_samples(seconds_to_samples(start_s), seconds_to_samples(end_s))

    def translate(self, sentences: list[FinishedSentence]) -> list[TranslationEvent]:
        """Translations of finished ``sentences`` (worker thread)."""
        if not sentences or self.translator is None or self.source is None:
            return []
        inputs = [
            Sentence(join_words(s.words), self.audio_between(s.words[0].start_s, s.words[-1].end_s)) for s in sentences
        ]
        texts = self.translator.translate(inputs, self.source, self.target)
        return [
            TranslationEvent(s.segment, s.words[0].start_s, s.words[-1].end_s, i.text, t, self.target, self.source,
                             speaker=s.words[0].speaker)
            for s, i, t in zip(sentences, inputs, texts, strict=True)
        ]  # fmt: skip
