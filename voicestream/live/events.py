"""What a live session produces, in order: typed events that interfaces (the websocket
protocol, the file harness, a Ray gateway) turn into their own form at the edge."""

from __future__ import annotations

from dataclasses import dataclass

from voicestream.messages import SpeculativeCounts, Word

SPEECH_RATE = 24_000
"""Sample rate (Hz) of the translated speech a session produces (16-bit PCM, mono)."""


@dataclass(frozen=True, slots=True)
class PartialEvent:
    """Unconfirmed text of the current segment; a later revision replaces it."""

    segment: int
    revision: int
    words: tuple[Word, ...]
    language: str | None


@dataclass(frozen=True, slots=True)
class FinalEvent:
    """Confirmed words of a segment. Only a :class:`RevisionEvent` replaces them (once, when
    their utterance ends) and a :class:`SpeakerUpdateEvent` naming ``id`` relabels them.
    With diarization, one speaker per final."""

    segment: int
    words: tuple[Word, ...]
    language: str | None
    id: int = 0

    @property
    def speaker(self) -> str | None:
        """The final's speaker (``None`` without diarization)."""
        return self.words[0].speaker if self.words else None


@dataclass(frozen=True, slots=True)
class RevisionEvent:
    """An utterance ended and was decoded again as a whole: the finals ``replaces`` (ids,
    in order) are withdrawn and ``finals`` (new ids) take their place."""

    replaces: tuple[int, ...]
    finals: tuple[FinalEvent, ...]


@dataclass(frozen=True, slots=True)
class SpeakerUpdateEvent:
    """The end-of-stream second pass relabelled final ``final``: ``speakers`` holds the new
    label of each of its words (usually all the same)."""

    final: int
    speakers: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class DoneEvent:
    """Everything is flushed (the session ends next).

    Attributes:
        duration_s: Audio received (s).
        finals: Finals produced (in final and revision events).
        session: The session id.
        decodes: Whisper decodes the session cost; ``revisions`` of them revised utterances.
        speculative: The session's speculative-decoding counts.
        speakers: Speaker labels used, or ``None`` for a session without speaker labels.
        speaker_updates: Finals the end-of-stream second pass relabelled (``None``: no
            second pass, the session was too long for it).
        revisions_skipped: Utterances left with their first text because their revision
            did not start within about :data:`~voicestream.live.session.REVISION_MAX_LAG_S`
            of wall time after their end was processed while its worker was busy (a server
            behind its load).
    """

    duration_s: float
    finals: int
    session: str
    decodes: int
    revisions: int
    speculative: SpeculativeCounts
    speakers: tuple[str, ...] | None = None
    speaker_updates: int | None = None
    revisions_skipped: int = 0


@dataclass(frozen=True, slots=True)
class SubtitlesEvent:
    """The session's finals as an SRT or WebVTT file, cut by the CLI's subtitle rules."""

    format: str
    text: str


@dataclass(frozen=True, slots=True)
class TranslationEvent:
    """The translation of one finished sentence of segment ``segment`` (``text``), or why
    the stream cannot be translated (``error``, sent once). ``speaker``: the sentence's
    speaker with diarization."""

    segment: int
    start_s: float
    end_s: float
    source_text: str
    text: str | None
    language: str
    source_language: str | None
    error: str | None = None
    speaker: str | None = None


@dataclass(frozen=True, slots=True)
class SpeechEvent:
    """Translated speech of one sentence, or of its part ``part`` of ``parts`` (clauses, in
    order; ``text`` is the part's): this JSON event, then one binary frame of ``audio``
    (16-bit little-endian PCM, mono, at ``sample_rate``), to play from ``start_s`` on the
    stream clock at ``tempo`` (already applied to the audio); ``speed`` is the speaking rate
    the voice was asked for (1.0 = its own)."""

    id: int
    segment: int
    text: str
    language: str
    voice: str
    start_s: float
    source_start_s: float
    source_end_s: float
    tempo: float
    audio: bytes
    sample_rate: int = SPEECH_RATE
    speaker: str | None = None
    part: int = 0
    parts: int = 1
    speed: float = 1.0

    @property
    def duration_s(self) -> float:
        """Length of the audio (s)."""
        return len(self.audio) / 2 / self.sample_rate


@dataclass(frozen=True, slots=True)
class SpeechSkippedEvent:
    """A sentence whose speech was not sent: it would have started ``delay_s`` after its
    source ended, past the bound (or its synthesis failed: ``reason``)."""

    id: int
    segment: int
    text: str
    delay_s: float
    reason: str


LiveEvent = (
    PartialEvent
    | FinalEvent
    | RevisionEvent
    | SpeakerUpdateEvent
    | TranslationEvent
    | SpeechEvent
    | SpeechSkippedEvent
    | SubtitlesEvent
    | DoneEvent
)
"""Everything a live session emits."""
