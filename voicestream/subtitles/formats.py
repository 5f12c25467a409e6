"""Rendering transcripts and cues as SRT, WebVTT, JSON and plain text."""

from __future__ import annotations

import datetime
import json
from typing import Any

import srt
import webvtt

from voicestream.messages import Cue, Transcript

FORMATS = ("srt", "vtt", "json", "txt")


def _td(seconds: float) -> datetime.timedelta:
    return datetime.timedelta(milliseconds=round(seconds * 1000))


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def to_srt(cues: list[Cue]) -> str:
    """SubRip text (``srt`` library)."""
    subs = [srt.Subtitle(c.index, _td(c.start_s), _td(c.end_s), c.text) for c in cues]
    return str(srt.compose(subs, reindex=True))


def to_vtt(cues: list[Cue]) -> str:
    """WebVTT text (``webvtt-py`` library)."""
    doc = webvtt.WebVTT()
    for c in cues:
        doc.captions.append(webvtt.Caption(_vtt_time(c.start_s), _vtt_time(c.end_s), c.text))
    return str(doc.content)


def to_json(transcript: Transcript) -> str:
    """The JSON document: language, duration, model, segments with words (seconds), and
    the speculative-decoding counts when greedy step decoding ran."""
    doc: dict[str, Any] = {
        "language": transcript.language,
        "duration": round(transcript.duration_s, 3),
        "model": transcript.model,
        "segments": [
            {
                "start": round(s.start_s, 3),
                "end": round(s.end_s, 3),
                "text": s.text,
                "speaker": s.speaker,
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
    if transcript.speculative is not None:
        doc["speculative"] = dict(transcript.speculative)
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def to_txt(transcript: Transcript) -> str:
    """One segment per line."""
    return "".join(s.text + "\n" for s in transcript.segments)


def render(fmt: str, transcript: Transcript, cues: list[Cue]) -> str:
    """Text of ``transcript`` in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "srt":
        return to_srt(cues)
    if fmt == "vtt":
        return to_vtt(cues)
    if fmt == "json":
        return to_json(transcript)
    if fmt == "txt":
        return to_txt(transcript)
    raise ValueError(f"unknown format {fmt!r}")
