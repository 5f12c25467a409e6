"""Per-session live speech: a voice, synthesis of each translated sentence, its place in time."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence

import numpy as np
import soxr

from voicestream.dub.stretch import stretch
from voicestream.live_dub.schedule import Clip, ScheduleSettings, SpeechScheduler
from voicestream.streaming.protocol import SPEECH_RATE, SpeechEvent, SpeechSkippedEvent, TranslationEvent
from voicestream.tts.base import Synthesizer, Voice, trim_silence
from voicestream.tts.cast import cast, parse_voice_option

ENGINES = ("piper", "kokoro", "espeak")
"""Engines a live session may name (cloning needs a reference clip and the hub: files only)."""


class LiveSpeaker:
    """Speaks one session's translations in one voice, in order, on the stream clock.

    Runs on a worker thread (one job at a time per session); holds the session's schedule.
    """

    def __init__(
        self,
        synthesizers: Sequence[Synthesizer],
        language: str,
        voice: str | None = None,
        settings: ScheduleSettings | None = None,
    ) -> None:
        """Choose the voice now.

        Raises:
            ModelError: no voice speaks ``language``; OptionError: unknown engine in ``voice``.
        """
        self.language = language
        self._synths = {s.name: s for s in synthesizers}
        request = parse_voice_option(voice, ENGINES)
        self.voice: Voice = cast([("Speaker 1", "unknown")], language, synthesizers, request)["Speaker 1"]
        self._synths[self.voice.engine].synthesize("ok", self.voice)  # load the model now, not on the first sentence
        self.scheduler = SpeechScheduler(settings)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def speak(self, event: TranslationEvent, clock: Callable[[], float]) -> SpeechEvent | SpeechSkippedEvent:
        """Synthesize ``event``'s text and place it; ``clock()`` reads the stream time (s)
        when the audio is ready."""
        assert event.text is not None
        with self._lock:
            number = next(self._ids)
            speech = trim_silence(self._synths[self.voice.engine].synthesize(event.text, self.voice))
            clip = Clip(event.segment, event.start_s, event.end_s, speech.duration_s)
            placed = self.scheduler.place(clip, clock())
            if placed.skipped:
                return SpeechSkippedEvent(number, event.segment, event.text, placed.delay_s, "behind")
            audio = soxr.resample(speech.samples, speech.sample_rate, SPEECH_RATE).astype(np.float32)
            audio = stretch(audio, SPEECH_RATE, placed.tempo)
            pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
            return SpeechEvent(number, event.segment, event.text, self.language, self.voice.id, placed.start_s,
                               event.start_s, event.end_s, placed.tempo, pcm)  # fmt: skip
