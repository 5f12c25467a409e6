"""Translating an existing subtitle file: cues -> sentences -> translations -> cues again.

The cues' words are timed inside their cues (:func:`~voicestream.subtitles.read.cue_words`),
joined into sentences across cue boundaries (a sentence split over two cues is translated
whole), split at speaker changes, translated sentence by sentence, and laid back onto the
source timing with the rules of ``transcribe --translate-to``
(:func:`~voicestream.translate.layout.translated_cues`): line length, reading speed, no
overlap, every translated word inside the speech of its source sentence.
"""

from __future__ import annotations

from dataclasses import replace

from voicestream.messages import Transcript
from voicestream.sentences import group_sentences
from voicestream.subtitles.read import SourceCue, cue_words
from voicestream.translate.base import Sentence, Translator
from voicestream.translate.choose import route_label

SUBTITLES_MODEL = "subtitles"
"""The transcript's ``model`` when its text came from a subtitle file, not from a model."""


def subtitles_transcript(cues: list[SourceCue], language: str) -> Transcript:
    """The cues as a transcript in ``language``: one segment per sentence (or speaker turn)."""
    segments = tuple(group_sentences(cue_words(cues)))
    return Transcript(language, max(c.end_s for c in cues), SUBTITLES_MODEL, segments)


def translate_text(transcript: Transcript, translator: Translator, target: str) -> Transcript:
    """``transcript`` with each segment's ``translation`` into ``target`` (text only: the
    translator gets no audio)."""
    texts = translator.translate([Sentence(s.text) for s in transcript.segments], transcript.language, target)
    segments = tuple(replace(s, translation=t) for s, t in zip(transcript.segments, texts, strict=True))
    label = route_label(translator, transcript.language, target)
    return replace(transcript, segments=segments, translation_language=target, translator=label)
