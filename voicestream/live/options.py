"""What a client asks of one live session (the websocket's ``start`` carries it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from voicestream.asr import Task

ExportFormat = Literal["srt", "vtt"]
"""Subtitle formats a live session exports."""
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("srt", "vtt")


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """One live session's choices.

    Attributes:
        language: Spoken language (ISO code), or ``None`` to detect it.
        task: ``transcribe`` or ``translate`` (to English).
        partials: Whether partial (unconfirmed) events are produced.
        revise: Whether ended utterances are decoded again and their finals revised.
        diarize: Whether finals are labelled with speakers.
        num_speakers, max_speakers: Speaker count, exact or at most (with ``diarize``).
        translate_to: Each finished sentence is also translated into this language.
        speak: Whether translated sentences are also spoken (implies ``translate_to``).
        speak_voice: The voice (``engine`` or ``engine:name``; ``None``: the best installed).
        vocabulary: Names and terms to expect, joined (:func:`voicestream.asr.vocabulary.vocabulary_text`).
    """

    language: str | None = None
    task: Task = "transcribe"
    partials: bool = True
    revise: bool = True
    diarize: bool = False
    num_speakers: int | None = None
    max_speakers: int | None = None
    translate_to: str | None = None
    speak: bool = False
    speak_voice: str | None = None
    vocabulary: str | None = None
