"""Voice activity detection and planning of ASR windows (the WhisperX cut & merge).

The default engine is Silero VAD v6 (ONNX, on onnxruntime) as bundled in the
faster-whisper wheel, so no torch is needed for files.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from voicestream.messages import SpeechRegion, Word
from voicestream.timebase import SAMPLE_RATE, samples_to_seconds


class VoiceActivityDetector(Protocol):
    """Finds speech in a whole waveform. Shared across sessions, holds no per-stream state."""

    def regions(self, samples: npt.NDArray[np.float32]) -> list[SpeechRegion]:
        """Speech regions of ``samples`` (float32, shape ``(n,)``, 16 kHz), in seconds from sample 0."""
        ...


@dataclass(frozen=True, slots=True)
class VadSettings:
    """Silero VAD tuning.

    Attributes:
        threshold: Speech probability above which a 32 ms frame is speech.
        min_speech_s: Shorter speech bursts are dropped (clicks, breaths).
        min_silence_s: Silence needed before a region ends.
        pad_s: Padding added on both sides of a region so word edges are kept.
        max_region_s: Longer regions are split at their longest internal silence.
    """

    threshold: float = 0.5
    min_speech_s: float = 0.1
    min_silence_s: float = 0.5
    pad_s: float = 0.2
    max_region_s: float = 28.0


class SileroVad:
    """Silero VAD v6 through faster-whisper's onnxruntime wrapper."""

    def __init__(self, settings: VadSettings | None = None) -> None:
        from faster_whisper.vad import VadOptions  # faster-whisper loads CTranslate2: imported when a model is used

        self.settings = settings or VadSettings()
        s = self.settings
        self._options = VadOptions(
            threshold=s.threshold,
            min_speech_duration_ms=round(s.min_speech_s * 1000),
            max_speech_duration_s=s.max_region_s,
            min_silence_duration_ms=round(s.min_silence_s * 1000),
            speech_pad_ms=round(s.pad_s * 1000),
        )

    def regions(self, samples: npt.NDArray[np.float32]) -> list[SpeechRegion]:
        """Speech regions of ``samples`` (float32, shape ``(n,)``, 16 kHz)."""
        from faster_whisper.vad import (
            get_speech_timestamps,  # faster-whisper loads CTranslate2: imported when a model is used
        )

        if samples.size == 0:
            return []
        found = get_speech_timestamps(samples, self._options, sampling_rate=SAMPLE_RATE)
        return [SpeechRegion(samples_to_seconds(int(r["start"])), samples_to_seconds(int(r["end"]))) for r in found]


@dataclass(frozen=True, slots=True)
class Window:
    """One ASR input: slices of the source audio joined back to back.

    Long silences between speech regions are cut down to a short bridge, so a
    lone word gets the neighbouring speech as context instead of being decoded
    alone, and Whisper never sees seconds of silence it could fill with text.
    :meth:`to_source` is the one mapping from window time back to stream time.

    Attributes:
        pieces: Source spans (s) in order; piece ``k`` is followed directly by ``k + 1``.
    """

    pieces: tuple[SpeechRegion, ...]

    @property
    def start_s(self) -> float:
        """Source time (s) where the window starts."""
        return self.pieces[0].start_s

    @property
    def end_s(self) -> float:
        """Source time (s) where the window ends."""
        return self.pieces[-1].end_s

    @property
    def duration_s(self) -> float:
        """Length of the joined audio (s)."""
        return sum(p.duration_s for p in self.pieces)

    def to_source(self, start_s: float, end_s: float) -> tuple[float, float]:
        """Map a span of window time (s) to source time (s).

        A span crossing a join is placed in the piece it overlaps most and clamped to
        it, so a word never stretches over a removed silence.
        """
        best = (-1.0, 0.0, self.pieces[0])
        offset = 0.0
        for piece in self.pieces:
            overlap = min(end_s, offset + piece.duration_s) - max(start_s, offset)
            if overlap > best[0]:
                best = (overlap, offset, piece)
            offset += piece.duration_s
        _, offset, piece = best

        def place(t: float) -> float:
            return min(max(piece.start_s + t - offset, piece.start_s), piece.end_s)

        return place(start_s), place(end_s)

    def place_words(self, words: list[Word]) -> list[Word]:
        """``words`` timed in window seconds, re-timed in source seconds (see :meth:`to_source`)."""
        return [replace(w, start_s=a, end_s=b) for w in words for a, b in [self.to_source(w.start_s, w.end_s)]]


def plan_windows(
    regions: list[SpeechRegion], *, max_window_s: float = 29.0, max_gap_s: float = 2.0, bridge_s: float = 0.6
) -> list[Window]:
    """Group consecutive speech regions into ASR windows of at most ``max_window_s`` of audio.

    Silences up to ``max_gap_s`` stay in the window as they are; longer ones are cut to
    ``bridge_s`` (half after the region before, half before the region after). A single
    region longer than ``max_window_s`` is its own window.

    Args:
        regions: Speech regions in time order (s), non-overlapping.
        max_window_s: Most audio (s) per window; Whisper sees at most 30 s.
        max_gap_s: Longest silence (s) kept whole inside a window.
        bridge_s: Silence (s) kept where a longer one is cut.

    Returns:
        Windows in time order.
    """
    windows: list[Window] = []
    pieces: list[SpeechRegion] = []
    length = 0.0
    for region in regions:
        if pieces:
            gap = region.start_s - pieces[-1].end_s
            kept = gap if gap <= max_gap_s else bridge_s
            if length + kept + region.duration_s <= max_window_s:
                if gap <= max_gap_s:
                    pieces[-1] = SpeechRegion(pieces[-1].start_s, region.end_s)
                else:
                    half = bridge_s / 2
                    pieces[-1] = SpeechRegion(pieces[-1].start_s, pieces[-1].end_s + half)
                    pieces.append(SpeechRegion(region.start_s - half, region.end_s))
                length += kept + region.duration_s
                continue
            windows.append(Window(tuple(pieces)))
        pieces = [region]
        length = region.duration_s
    if pieces:
        windows.append(Window(tuple(pieces)))
    return windows
