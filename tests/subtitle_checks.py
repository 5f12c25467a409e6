"""Checks every produced subtitle file must pass (parsed back with subtitle libraries)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pysubs2
import srt
import webvtt

MAX_LINES = 2
MAX_LINE_CHARS = 42
MAX_CPS = 20.0
MIN_DURATION = 0.8
MAX_DURATION = 7.0


@dataclass(frozen=True)
class ParsedCue:
    start: float
    end: float
    lines: list[str]


def parse_srt(path: Path) -> list[ParsedCue]:
    subs = list(srt.parse(path.read_text(encoding="utf-8")))
    return [ParsedCue(s.start.total_seconds(), s.end.total_seconds(), s.content.split("\n")) for s in subs]


def parse_ass(path: Path) -> list[ParsedCue]:
    """An ASS file's dialogue lines (``pysubs2``), override tags and ``\\N`` breaks as plain text."""
    return [ParsedCue(e.start / 1000, e.end / 1000, e.plaintext.split("\n")) for e in pysubs2.load(str(path)).events]


def _vtt_seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def parse_vtt(path: Path) -> list[ParsedCue]:
    doc = webvtt.read(str(path))
    return [ParsedCue(_vtt_seconds(c.start), _vtt_seconds(c.end), c.text.split("\n")) for c in doc.captions]


def rule_violations(cues: list[ParsedCue], media_duration: float) -> list[str]:
    """Human-readable list of broken rules (empty when all hold)."""
    problems: list[str] = []
    prev_end = 0.0
    for i, c in enumerate(cues, 1):
        chars = sum(len(line) for line in c.lines) + len(c.lines) - 1
        duration = c.end - c.start
        if not 1 <= len(c.lines) <= MAX_LINES:
            problems.append(f"cue {i}: {len(c.lines)} lines")
        if any(len(line) > MAX_LINE_CHARS for line in c.lines):
            problems.append(f"cue {i}: line over {MAX_LINE_CHARS} chars: {c.lines}")
        if any(not line.strip() for line in c.lines):
            problems.append(f"cue {i}: empty line")
        if c.start < prev_end - 1e-6:
            problems.append(f"cue {i}: overlaps previous ({c.start} < {prev_end})")
        if c.end <= c.start:
            problems.append(f"cue {i}: not positive duration")
        if c.end > media_duration + 1e-3 or c.start < 0:
            problems.append(f"cue {i}: outside the media ({c.start}-{c.end} of {media_duration})")
        if duration > MAX_DURATION + 1e-6:
            problems.append(f"cue {i}: longer than {MAX_DURATION} s ({duration:.2f})")
        if duration < MIN_DURATION - 1e-6:
            problems.append(f"cue {i}: shorter than {MIN_DURATION} s ({duration:.2f})")
        if chars / duration > MAX_CPS + 1e-6:
            problems.append(f"cue {i}: reading speed {chars / duration:.1f} cps")
        prev_end = c.end
    return problems
