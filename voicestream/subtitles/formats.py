"""Rendering transcripts and cues as SRT, WebVTT, ASS, JSON, plain text and RTTM."""

from __future__ import annotations

import datetime
import json
from typing import Any

import srt
import webvtt

from voicestream.messages import Cue, SpeakerTurn, Transcript
from voicestream.subtitles.ass import to_ass
from voicestream.subtitles.cues import speaker_prefix

FORMATS = ("srt", "vtt", "ass", "json", "txt", "rttm")
NEEDS_SPEAKERS = ("rttm",)
"""Formats that only exist for diarized transcripts."""


def _td(seconds: float) -> datetime.timedelta:
    return datetime.timedelta(milliseconds=round(seconds * 1000))


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def to_srt(cues: list[Cue]) -> str:
    """SubRip text (``srt`` library); a cue where a new speaker starts begins with the
    speaker's label (``Speaker 2: ...``)."""
    subs = []
    previous: str | None = None
    for c in cues:
        label = speaker_prefix(c.speaker) if c.speaker != previous else ""
        subs.append(srt.Subtitle(c.index, _td(c.start_s), _td(c.end_s), label + c.text))
        previous = c.speaker
    return str(srt.compose(subs, reindex=True))


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: list[Cue]) -> str:
    """WebVTT text (``webvtt-py`` library); speakers as voice spans (``<v Speaker 1>``)."""
    doc = webvtt.WebVTT()
    for c in cues:
        text = _vtt_escape(c.text)
        if c.speaker:
            text = f"<v {_vtt_escape(c.speaker)}>{text}"
        doc.captions.append(webvtt.Caption(_vtt_time(c.start_s), _vtt_time(c.end_s), text))
    return str(doc.content)


def to_rttm(turns: tuple[SpeakerTurn, ...], uri: str) -> str:
    """NIST RTTM: one ``SPEAKER`` line per turn (``pyannote.core`` writes it); spaces in
    labels and the file id become underscores, as the format needs."""
    from pyannote.core import Annotation, Segment  # the diarize extra

    doc = Annotation(uri="_".join(uri.split()) or "audio")
    for k, t in enumerate(turns):
        doc[Segment(t.start_s, t.end_s), k] = "_".join(t.speaker.split())
    return str(doc.to_rttm())


def to_json(transcript: Transcript) -> str:
    """The JSON document: language, duration, model, segments with words (seconds), and
    the speculative-decoding counts when greedy step decoding ran."""
    doc: dict[str, Any] = {
        "language": transcript.language,
        "duration": round(transcript.duration_s, 3),
        "model": transcript.model,
        "speakers": list(transcript.speakers),
        "segments": [
            {
                "start": round(s.start_s, 3),
                "end": round(s.end_s, 3),
                "text": s.text,
                "speaker": s.speaker,
                **({"translation": s.translation} if transcript.translation_language else {}),
                "words": [
                    {
                        "start": round(w.start_s, 3),
                        "end": round(w.end_s, 3),
                        "word": w.text,
                        "probability": round(w.probability, 4),
                        "speaker": w.speaker,
                    }
                    for w in s.words
                ],
            }
            for s in transcript.segments
        ],
    }
    if transcript.translation_language:
        doc["translation"] = {"language": transcript.translation_language, "engine": transcript.translator}
    if transcript.speculative is not None:
        doc["speculative"] = transcript.speculative.as_dict()
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def to_txt(transcript: Transcript, bilingual: bool = False) -> str:
    """One segment per line, with ``Speaker N:`` where the speaker changes; translated
    transcripts give the translation (``bilingual``: the source line, then the translation)."""
    out: list[str] = []
    previous: str | None = None
    for s in transcript.segments:
        label = speaker_prefix(s.speaker) if s.speaker != previous else ""
        if transcript.translation_language is None:
            out.append(label + s.text + "\n")
        elif bilingual:
            out.append(label + s.text + "\n" + (s.translation or "") + "\n")
        else:
            out.append(label + (s.translation or "") + "\n")
        previous = s.speaker
    return "".join(out)


def render(fmt: str, transcript: Transcript, cues: list[Cue], uri: str = "audio", bilingual: bool = False) -> str:
    """Text of ``transcript`` in format ``fmt`` (one of :data:`FORMATS`); ``uri`` names the
    recording in RTTM; ``cues`` are the ones to write (translated ones for a translation)."""
    if fmt == "srt":
        return to_srt(cues)
    if fmt == "vtt":
        return to_vtt(cues)
    if fmt == "ass":
        return to_ass(cues)
    if fmt == "json":
        return to_json(transcript)
    if fmt == "txt":
        return to_txt(transcript, bilingual)
    if fmt == "rttm":
        return to_rttm(transcript.turns, uri)
    raise ValueError(f"unknown format {fmt!r}")
