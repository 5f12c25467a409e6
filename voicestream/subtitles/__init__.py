"""Subtitles: cue building from timed words, line breaking, and SRT/WebVTT/JSON/TXT output."""

from voicestream.subtitles.cues import build_cues
from voicestream.subtitles.rules import SubtitleRules

__all__ = ["SubtitleRules", "build_cues"]
