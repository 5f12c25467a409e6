"""One dubbed clip: synthesize, fit to the slot, self-check, retry once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soxr

from voicestream.audio.mix import MIX_RATE
from voicestream.audio.stretch import cut_with_fade, stretch
from voicestream.dub.selfcheck import Check, ClipChecker
from voicestream.dub.timing import FitSettings, Slot, needs_faster_voice, plan_fit
from voicestream.tts.base import Speech, Synthesizer, Voice, trim_silence

LEAD_S = 0.03
"""Silence (s) kept before the first sound of a clip (placed that much before the turn start)."""


def placed_at(slot: Slot) -> float:
    """Where ``slot``'s clip is placed in the mix (s): :data:`LEAD_S` before the slot, not before 0."""
    return max(0.0, slot.start_s - LEAD_S)


RETRY_SLOWER = 0.9
"""Speed factor of the one retry after a failed self-check (clearer, slower speech)."""


@dataclass(frozen=True, slots=True)
class FittedClip:
    """A fitted clip and how it was made.

    Attributes:
        samples: float32 ``(n,)`` mono at :data:`~voicestream.audio.mix.MIX_RATE`.
        speed: Synthesis rate asked of the voice (1.0 = its own).
        tempo: Pitch-preserving stretch applied after synthesis (> 1 faster).
        natural_s: Length (s) as synthesized, before stretching.
        overflow_s: Seconds cut off because the clip did not fit even at the hard bound.
        check: What the self-check heard, ``None`` when it did not run.
        attempts: Syntheses made (2 after a retry).
    """

    samples: npt.NDArray[np.float32]
    speed: float
    tempo: float
    natural_s: float
    overflow_s: float
    check: Check | None
    attempts: int

    @property
    def duration_s(self) -> float:
        """Length (s) as placed."""
        return self.samples.size / MIX_RATE


def _fit_once(text: str, voice: Voice, synth: Synthesizer, slot: Slot, cfg: FitSettings, speed: float) -> FittedClip:
    speech = trim_silence(synth.synthesize(text, voice, speed))
    faster = needs_faster_voice(speech.duration_s, slot, cfg)
    if faster > 1.0 and speed == 1.0:
        speed = faster
        speech = trim_silence(synth.synthesize(text, voice, speed))
    fit = plan_fit(speech.duration_s, slot, cfg)
    audio = soxr.resample(speech.samples, speech.sample_rate, MIX_RATE).astype(np.float32)
    audio = stretch(audio, MIX_RATE, fit.tempo)
    room = round((slot.room_s + LEAD_S) * MIX_RATE)
    overflow = max(0.0, (audio.size - room) / MIX_RATE) if slot.room_s > 0 else 0.0
    audio = cut_with_fade(audio, room, round(0.05 * MIX_RATE))
    return FittedClip(audio, speed, fit.tempo, speech.duration_s, overflow, None, 1)


def make_clip(
    text: str,
    voice: Voice,
    synth: Synthesizer,
    slot: Slot,
    cfg: FitSettings,
    checker: ClipChecker | None,
    min_similarity: float,
) -> FittedClip:
    """Synthesize ``text`` in ``voice`` fitted to ``slot``; self-check it and, below
    ``min_similarity``, synthesize once more a little slower and keep the better of the two."""
    clip = _fit_once(text, voice, synth, slot, cfg, 1.0)
    if checker is None:
        return clip
    first = _checked(clip, checker, text)
    if first.check is not None and first.check.similarity >= min_similarity:
        return first
    retry = _checked(_fit_once(text, voice, synth, slot, cfg, first.speed * RETRY_SLOWER), checker, text)
    best = max((first, retry), key=lambda c: c.check.similarity if c.check else 0.0)
    return FittedClip(best.samples, best.speed, best.tempo, best.natural_s, best.overflow_s, best.check, 2)


def _checked(clip: FittedClip, checker: ClipChecker, text: str) -> FittedClip:
    speech = Speech(clip.samples, MIX_RATE)
    return FittedClip(
        clip.samples, clip.speed, clip.tempo, clip.natural_s, clip.overflow_s, checker.check(speech, text), 1
    )
