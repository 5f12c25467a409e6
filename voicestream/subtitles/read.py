"""Reading subtitle files (SRT, WebVTT, ASS) back into timed cues with speaker labels.

Speakers come from where each format keeps them: WebVTT voice spans (``<v Speaker 1>``),
the ASS actor field (or a style other than the default), and in SRT a label in front of
the text (``Speaker 2: ...``, as ``transcribe --diarize`` writes it) that stays the
speaker of the following cues until the next label. An SRT prefix counts as a label
when it looks like a diarizer's (``Speaker 2``, ``SPEAKER_01``), or when it is a name (one
to three capitalised words) that opens at least two cues, so "Note: ..." once or
"He said: ..." keep their text. ASS styles are not speakers (fansubs name them "Signs",
"Italics"): only the actor field is.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from voicestream.errors import InputNotFoundError, SubtitleFileError
from voicestream.messages import Word

SUBTITLE_SUFFIXES = (".srt", ".vtt", ".ass", ".ssa")
"""Subtitle files :func:`read_cues` reads."""
_LABEL = re.compile(r"^([^\W\d][\w .'\-]{0,31}):\s+(?=\S)")
_NAME = re.compile(r"^[^\W\d_][\w.'\-]*( [^\W\d_][\w.'\-]*){0,2}$")
_DIARIZER_LABEL = re.compile(r"^(speaker[ _]?\d+|spk[ _]?\d+)$", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")  # HTML-like tags; ASS override blocks ({\an8}) in SRT


@dataclass(frozen=True, slots=True)
class SourceCue:
    """One cue read from a file: shown from ``start_s`` to ``end_s`` (s), its text on one
    line (the file's line breaks as spaces) and its speaker (``None``: none given)."""

    start_s: float
    end_s: float
    text: str
    speaker: str | None = None


def read_cues(path: Path) -> list[SourceCue]:
    """The cues of an ``.srt``, ``.vtt`` or ``.ass``/``.ssa`` file, in time order, empty ones dropped.

    Raises:
        InputNotFoundError: the file is missing or unreadable.
        SubtitleFileError: not a subtitle file, malformed, or no cue.
    """
    suffix = path.suffix.lower()
    if suffix not in SUBTITLE_SUFFIXES:
        raise SubtitleFileError(f"{path}: not a subtitle file (use {', '.join(SUBTITLE_SUFFIXES)})")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputNotFoundError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # older subtitle files are often Windows-1252
    try:
        cues = _vtt(text) if suffix == ".vtt" else _ass(text) if suffix in (".ass", ".ssa") else _srt(text)
    except Exception as e:  # each parser has its own errors; all mean a malformed file
        raise SubtitleFileError(f"{path}: not a readable {suffix[1:].upper()} file: {e}") from None
    cues = sorted((c for c in cues if c.text and c.end_s > c.start_s), key=lambda c: (c.start_s, c.end_s))
    if not cues:
        raise SubtitleFileError(f"{path}: holds no timed cue with text")
    return cues


def cue_words(cues: list[SourceCue]) -> list[Word]:
    """The cues' words, each timed inside its cue in proportion to its characters (a
    subtitle file has no word times), with the cue's speaker. A cue that starts before the
    previous one ends (overlapping cues) is timed from that end, so words stay in order."""
    words: list[Word] = []
    floor = 0.0
    for cue in cues:
        tokens = cue.text.split()
        total = sum(len(t) + 1 for t in tokens)
        first = max(cue.start_s, floor)
        span, at = max(cue.end_s - first, 0.05 * len(tokens)), 0  # a cue inside the previous one: just after it
        for token in tokens:
            start = first + span * at / total
            at += len(token) + 1
            end = first + span * (at - 1) / total
            words.append(Word(round(start, 3), round(max(start, end), 3), " " + token, 1.0, cue.speaker))
        floor = max(floor, cue.end_s, words[-1].end_s if words else 0.0)
    return words


def _one_line(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def _srt(text: str) -> list[SourceCue]:
    import srt  # the SubRip library the writer uses

    raw = [(s.start.total_seconds(), s.end.total_seconds(), _one_line(s.content)) for s in srt.parse(text)]
    prefixes = Counter(m.group(1) for _, _, t in raw if (m := _LABEL.match(t)))
    cues, speaker = [], None
    for start, end, line in raw:
        m = _LABEL.match(line)
        name = m.group(1).strip() if m else ""
        if m and (
            _DIARIZER_LABEL.match(name) or (prefixes[m.group(1)] >= 2 and _NAME.match(name) and _capitalised(name))
        ):
            speaker, line = m.group(1).strip(), line[m.end() :]
        cues.append(SourceCue(start, end, line, speaker))
    return cues


def _vtt(text: str) -> list[SourceCue]:
    import webvtt  # webvtt-py, as the writer

    return [
        SourceCue(_vtt_seconds(c.start), _vtt_seconds(c.end), _one_line(c.raw_text), c.voice or None)
        for c in webvtt.from_string(text).captions
    ]


def _vtt_seconds(stamp: str) -> float:
    parts = [float(p) for p in stamp.split(":")]
    return float(sum(p * 60**k for k, p in enumerate(reversed(parts))))


def _ass(text: str) -> list[SourceCue]:
    import pysubs2  # the ASS library the writer uses

    doc = pysubs2.SSAFile.from_string(text)
    return [
        SourceCue(e.start / 1000, e.end / 1000, _one_line(e.plaintext), e.name.strip() or None)
        for e in doc
        if not e.is_comment
    ]


def _capitalised(name: str) -> bool:
    return all(word[0].isupper() or word[0].isdigit() for word in name.split())
