"""Frozen messages passed between pipeline stages. All times are absolute seconds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class SpeechRegion:
    """A stretch of speech found by the VAD: ``[start_s, end_s)`` in stream seconds."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word.

    Attributes:
        start_s: Start time (s).
        end_s: End time (s), ``>= start_s``.
        text: The word as the model emits it, with its leading space where the
            language uses spaces (so ``"".join`` rebuilds the text, CJK included).
        probability: Model probability of the word, 0..1.
        speaker: Speaker label, ``None`` until diarization assigns one.
    """

    start_s: float
    end_s: float
    text: str
    probability: float
    speaker: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A sentence-like run of words from one speaker, with its translation when asked for."""

    start_s: float
    end_s: float
    words: tuple[Word, ...]
    speaker: str | None = None
    translation: str | None = None

    @property
    def text(self) -> str:
        """The segment's text, stripped."""
        return join_words(self.words)


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    """``speaker`` talks during ``[start_s, end_s)`` (stream or file seconds)."""

    start_s: float
    end_s: float
    speaker: str

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Diarization:
    """Who spoke when.

    Attributes:
        turns: Speaker turns in start order; turns of different speakers may overlap.
        exclusive: The same with at most one speaker at any time (the most likely one
            where several overlap): the turns words are attributed by.
    """

    turns: tuple[SpeakerTurn, ...]
    exclusive: tuple[SpeakerTurn, ...]

    @property
    def speakers(self) -> tuple[str, ...]:
        """Speaker labels in order of first appearance."""
        return tuple(dict.fromkeys(t.speaker for t in self.turns))


@dataclass(frozen=True, slots=True)
class SpeculativeCounts:
    """How speculative greedy decoding went for a file or a live session.

    Attributes:
        drafted: Draft tokens proposed for verification.
        accepted: Draft tokens the main model confirmed.
        verify_passes: Batched verification passes of the main decoder.
        hypothesis_drafted: Part of ``drafted`` that came from the previous live hypothesis.
        hypothesis_accepted: Part of ``accepted`` that came from the previous live hypothesis.
    """

    drafted: int = 0
    accepted: int = 0
    verify_passes: int = 0
    hypothesis_drafted: int = 0
    hypothesis_accepted: int = 0

    @property
    def acceptance_rate(self) -> float:
        """Accepted / drafted (0 when nothing was drafted)."""
        return self.accepted / self.drafted if self.drafted else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The ``speculative`` object of JSON output and the ``done`` event."""
        return {
            "drafted": self.drafted,
            "accepted": self.accepted,
            "acceptance_rate": round(self.acceptance_rate, 4),
            "verify_passes": self.verify_passes,
            "hypothesis": {"drafted": self.hypothesis_drafted, "accepted": self.hypothesis_accepted},
        }


@dataclass(frozen=True, slots=True)
class Transcript:
    """A whole file's transcription.

    ``speculative`` holds the drafting counts of greedy step decoding, ``None`` when it did
    not run.
    ``turns`` holds the speaker turns when the file was diarized (empty otherwise);
    ``translation_language`` and ``translator`` are set when segments carry translations.
    """

    language: str
    duration_s: float
    model: str
    segments: tuple[Segment, ...]
    speculative: SpeculativeCounts | None = None
    turns: tuple[SpeakerTurn, ...] = ()
    translation_language: str | None = None
    translator: str | None = None

    @property
    def speakers(self) -> tuple[str, ...]:
        """Speaker labels in order of first appearance (empty when not diarized)."""
        return tuple(dict.fromkeys([t.speaker for t in self.turns] + [s.speaker for s in self.segments if s.speaker]))

    @property
    def words(self) -> tuple[Word, ...]:
        """All words in time order."""
        return tuple(w for s in self.segments for w in s.words)


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle cue: at most two lines, shown from ``start_s`` to ``end_s``."""

    index: int
    start_s: float
    end_s: float
    lines: tuple[str, ...]
    speaker: str | None = None

    @property
    def text(self) -> str:
        """Lines joined with newlines."""
        return "\n".join(self.lines)


def join_words(words: tuple[Word, ...] | list[Word]) -> str:
    """Rebuild text from words (each carries its own leading space)."""
    return "".join(w.text for w in words).strip()


def monotonic_words(words: list[Word] | tuple[Word, ...], floor_s: float) -> list[Word]:
    """Words with times forced non-decreasing, starting no earlier than ``floor_s`` (s)."""
    out: list[Word] = []
    for w in words:
        start = max(w.start_s, floor_s)
        end = max(w.end_s, start)
        out.append(w if (start, end) == (w.start_s, w.end_s) else replace(w, start_s=start, end_s=end))
        floor_s = end
    return out
