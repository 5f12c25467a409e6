"""Sans-I/O scheduling of live translated speech on the stream clock.

Clips play in order and never overlap. A clip starts as soon as it is synthesized and the
previous one has finished; when that start falls more than ``max_delay_s`` after the end of
its source sentence, the clip is sped up (pitch kept) within ``max_tempo`` to win the excess
back, and a clip that would start more than ``skip_delay_s`` late is skipped, so the delay
does not grow over a long session however long the translations run. A sentence may come
in parts (clauses synthesized one after another): the parts after the first follow it with a
short pause and are never skipped once the first played.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """Bounds of the live speech schedule.

    Attributes:
        speed_from_s: Delay (s) a sentence's speech would start at, behind the clips already
            placed, above which the voice is asked to speak faster (its own rate is better
            than stretching), reaching ``max_speed`` at ``max_delay_s``.
        max_speed: Fastest speaking rate asked of the voice (1.0 = its own).
        max_delay_s: Delay (s) from the end of a source sentence to the start of its speech
            above which clips are also stretched faster.
        max_tempo: Fastest pitch-preserving speed-up.
        skip_delay_s: A clip that would start more than this (s) after its source ended is skipped.
        gap_s: Silence (s) between consecutive clips.
        part_gap_s: Silence (s) before a later part of the same sentence (a clause pause).
    """

    speed_from_s: float = 1.5
    max_speed: float = 1.25
    max_delay_s: float = 3.0
    max_tempo: float = 1.35
    skip_delay_s: float = 8.0
    gap_s: float = 0.15
    part_gap_s: float = 0.08


@dataclass(frozen=True, slots=True)
class SpeechPart:
    """A synthesized sentence, or its part number ``part`` (0 first): its segment id, the
    sentence's source span (stream s) and the clip's length (s)."""

    segment: int
    source_start_s: float
    source_end_s: float
    duration_s: float
    part: int = 0


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a clip plays: from ``start_s`` (stream clock) at ``tempo``; ``skipped`` clips do not play.

    ``delay_s`` is the start minus the end of the source sentence.
    """

    clip: SpeechPart
    start_s: float
    tempo: float
    delay_s: float
    skipped: bool = False

    @property
    def end_s(self) -> float:
        """When the clip stops sounding (stream s); its start when skipped."""
        return self.start_s if self.skipped else self.start_s + self.clip.duration_s / self.tempo


class SpeechScheduler:
    """Places clips one after another (one scheduler per session)."""

    def __init__(self, settings: ScheduleSettings | None = None) -> None:
        self.settings = settings or ScheduleSettings()
        self.busy_until_s = 0.0

    def speed(self, source_end_s: float, now_s: float) -> float:
        """Speaking rate to ask of the voice for a sentence whose source ended at
        ``source_end_s``, when synthesis starts at ``now_s`` (stream s): 1.0 unless its speech
        would start more than ``speed_from_s`` after the sentence (at the earliest, now or
        after the clips placed so far), then faster, up to ``max_speed`` from ``max_delay_s``."""
        s = self.settings
        start = self._earliest(now_s, s.gap_s)
        share = (start - source_end_s - s.speed_from_s) / max(s.max_delay_s - s.speed_from_s, 1e-9)
        return 1.0 + (s.max_speed - 1.0) * min(max(share, 0.0), 1.0)

    def place(self, clip: SpeechPart, ready_s: float) -> Placement:
        """Place ``clip``, synthesized when the stream clock read ``ready_s``."""
        s = self.settings
        gap = s.part_gap_s if clip.part else s.gap_s
        start = max(self._earliest(ready_s, gap), clip.source_start_s)
        delay = start - clip.source_end_s
        if delay > s.skip_delay_s and not clip.part:
            return Placement(clip, start, 1.0, delay, skipped=True)
        tempo = 1.0
        excess = delay - s.max_delay_s
        if excess > 0 and clip.duration_s > 0:
            wanted = clip.duration_s / max(clip.duration_s - excess, clip.duration_s / s.max_tempo)
            tempo = min(s.max_tempo, wanted)
        placed = Placement(clip, start, tempo, delay)
        self.busy_until_s = placed.end_s
        return placed

    def _earliest(self, now_s: float, gap_s: float) -> float:
        """The earliest a clip ready at ``now_s`` can start: now, or ``gap_s`` after the last one."""
        return max(now_s, self.busy_until_s + gap_s) if self.busy_until_s > 0 else now_s
