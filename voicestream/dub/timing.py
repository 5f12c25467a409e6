"""Sans-I/O timing policy: how much time each dubbed utterance may take, and how to fit it.

An utterance owns its source turn ``[start_s, end_s)`` and may borrow the silence after it up to
the next utterance or the next other speaker's turn (minus a short gap), never past them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from voicestream.messages import SpeakerTurn


@dataclass(frozen=True, slots=True)
class FitSettings:
    """Bounds of the fitting.

    Attributes:
        min_tempo: Slowest pitch-preserving stretch (< 1 slows down) used to fill a turn.
        max_tempo: Fastest stretch within the quality bound (1.35 = 35 % faster).
        max_speed: Fastest synthesis rate asked of the voice before stretching.
        hard_max_tempo: Fastest stretch at all; past it the clip is cut and reported.
        gap_s: Silence (s) kept before the next utterance or turn.
    """

    min_tempo: float = 0.85
    max_tempo: float = 1.35
    max_speed: float = 1.3
    hard_max_tempo: float = 1.8
    gap_s: float = 0.08


@dataclass(frozen=True, slots=True)
class Slot:
    """Where one utterance may sound: from ``start_s``; ideally until ``end_s`` (its source
    turn), at most until ``limit_s``."""

    start_s: float
    end_s: float
    limit_s: float

    @property
    def turn_s(self) -> float:
        """Length (s) of the source turn."""
        return max(0.0, self.end_s - self.start_s)

    @property
    def room_s(self) -> float:
        """Longest the clip may be (s)."""
        return max(0.0, self.limit_s - self.start_s)


@dataclass(frozen=True, slots=True)
class Fit:
    """How to fit one clip: play it at ``tempo`` (pitch kept); ``overflow_s`` > 0 when even the
    hard bound does not fit it and the clip is cut (with a fade) at its slot limit."""

    tempo: float
    overflow_s: float = 0.0


class Span(NamedTuple):
    """Where a sentence was spoken (s) and by whom."""

    start_s: float
    end_s: float
    speaker: str | None


def plan_slots(
    spans: Sequence[tuple[float, float, str | None]],
    duration_s: float,
    turns: Sequence[SpeakerTurn] = (),
    settings: FitSettings | None = None,
) -> list[Slot]:
    """One slot per ``(start_s, end_s, speaker)`` span (in time order).

    The limit is the earliest of: the next span's start, the start of the first turn of another
    speaker that begins after this span ends, and the end of the media, each minus ``gap_s``
    (the media end without gap); never before the span's own end.
    """
    cfg = settings or FitSettings()
    out = []
    for i, (start, end, speaker) in enumerate(spans):
        limit = duration_s
        if i + 1 < len(spans):
            limit = min(limit, spans[i + 1][0] - cfg.gap_s)
        for turn in turns:
            if speaker is not None and turn.speaker != speaker and turn.start_s >= end - 1e-6:
                limit = min(limit, turn.start_s - cfg.gap_s)
        out.append(Slot(start, end, max(limit, min(end, duration_s))))
    return out


def needs_faster_voice(natural_s: float, slot: Slot, settings: FitSettings | None = None) -> float:
    """The synthesis speed to ask for when a clip of ``natural_s`` seconds cannot fit ``slot``
    within ``max_tempo``; 1.0 when it can."""
    cfg = settings or FitSettings()
    if slot.room_s <= 0 or natural_s <= slot.room_s * cfg.max_tempo:
        return 1.0
    return min(cfg.max_speed, natural_s / (slot.room_s * cfg.max_tempo) * 1.02)


def plan_fit(natural_s: float, slot: Slot, settings: FitSettings | None = None) -> Fit:
    """The stretch for a clip of ``natural_s`` seconds in ``slot``.

    Shorter than the turn: slowed towards the turn length (not below ``min_tempo``); between the
    turn and the room: as is; longer: sped up to the room, up to ``hard_max_tempo``, and past that
    cut, with the overflow reported.
    """
    cfg = settings or FitSettings()
    if natural_s <= 0:
        return Fit(1.0)
    if natural_s <= slot.turn_s:
        return Fit(max(cfg.min_tempo, natural_s / slot.turn_s))
    if natural_s <= slot.room_s:
        return Fit(1.0)
    if slot.room_s <= 0:
        return Fit(1.0, natural_s)
    tempo = natural_s / slot.room_s
    if tempo <= cfg.hard_max_tempo:
        return Fit(tempo)
    return Fit(cfg.hard_max_tempo, natural_s / cfg.hard_max_tempo - slot.room_s)
