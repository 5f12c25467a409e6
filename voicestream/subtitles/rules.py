"""The subtitle rules people expect (Netflix and BBC style guides; docs/cli.md, "What you get")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SubtitleRules:
    """Limits every produced cue keeps where the speech allows.

    Attributes:
        max_lines: Lines per cue.
        max_line_chars: Characters per line.
        max_cps: Reading speed, characters per second (spaces counted, line breaks not).
        min_duration_s: Shortest time a cue stays on screen.
        max_duration_s: Longest time a cue stays on screen.
        max_linger_s: How long a cue may stay after its last word when nothing follows.
        pause_split_s: A pause at least this long between words should end a cue.
        label_in_text: Whether a new speaker's label is written in the cue's first line
            (SRT: ``Speaker 1: ...``), so it takes room there; WebVTT puts it in a voice span
            (``<v Speaker 1>``) that players show apart from the text, if at all.
    """

    max_lines: int = 2
    max_line_chars: int = 42
    max_cps: float = 20.0
    min_duration_s: float = 0.8
    max_duration_s: float = 7.0
    max_linger_s: float = 1.0
    pause_split_s: float = 1.0
    label_in_text: bool = True

    @property
    def max_cue_chars(self) -> int:
        """Most characters a cue can hold."""
        return self.max_lines * self.max_line_chars
