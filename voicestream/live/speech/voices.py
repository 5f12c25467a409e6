"""Per-session live speech: a voice per speaker, synthesis of each translated sentence, its place in time."""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import soxr

from voicestream.audio.stretch import Stretch, stretch
from voicestream.live.events import SPEECH_RATE, SpeechEvent, SpeechSkippedEvent, TranslationEvent
from voicestream.live.speech.parts import split_parts
from voicestream.live.speech.schedule import ScheduleSettings, SpeechPart, SpeechScheduler
from voicestream.timebase import SAMPLE_RATE
from voicestream.tts.base import Gender, Synthesizer, Voice, trim_silence
from voicestream.tts.cast import cast, parse_voice_option
from voicestream.tts.pitch import gender_from_f0, median_f0

ENGINES = ("piper", "kokoro", "espeak")
"""Engines a live session may name (cloning needs a reference clip and the hub: files only)."""
FIRST = "Speaker 1"
"""The casting name of a session without speaker labels (and of an unlabelled sentence)."""

Source = Callable[[float, float], npt.NDArray[np.float32]]
"""A session's source audio from one stream time to another (s): 16 kHz float32 ``(n,)``."""


def pitch_range(samples: npt.NDArray[np.float32]) -> Gender:
    """Pitch range of a speaker from 16 kHz mono ``samples`` ``(n,)`` of their speech
    (``unknown`` when too little is voiced)."""
    return gender_from_f0(median_f0(samples, [(0.0, samples.size / SAMPLE_RATE)]))


@functools.cache
def warm_up_pitch() -> None:
    """Import and compile librosa's pitch tracker (2.7 s the first time) once per process,
    before a stream needs it."""
    pitch_range(np.zeros(SAMPLE_RATE, np.float32))


class LiveVoices:
    """Speaks one session's translations, in order, on the stream clock: each speaker (one
    voice without diarization) gets a voice of their own when they first speak, distinct
    from the others' while the catalog lasts and of the pitch range of their first sentence
    (read from :attr:`source` once the session sets it).

    Runs on a worker thread (one job at a time per session); holds the session's schedule.
    """

    def __init__(
        self,
        synthesizers: Sequence[Synthesizer],
        language: str,
        voice: str | None = None,
        settings: ScheduleSettings | None = None,
        stretch: Stretch = stretch,
    ) -> None:
        """Check now that ``language`` can be spoken and load that voice's model; ``stretch``
        speeds clips up (pitch kept) when speech falls behind.

        Raises:
            ModelError: no voice speaks ``language``; OptionError: unknown engine in ``voice``.
        """
        self.language = language
        self._all = tuple(synthesizers)
        self._synths = {s.name: s for s in synthesizers}
        self._request = parse_voice_option(voice, ENGINES)
        first = cast([(FIRST, "unknown")], language, self._all, self._request)[FIRST]
        self._synths[first.engine].synthesize("ok", first)  # load the model now, not on the first sentence
        warm_up_pitch()
        self.source: Source | None = None
        self.voices: dict[str, Voice] = {}
        self.ranges: dict[str, Gender] = {}  # each speaker's pitch range, in order of first sentence
        self.scheduler = SpeechScheduler(settings)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stretch = stretch
        self._speed = (-1, 1.0)  # (segment, the speaking rate asked for its parts)

    def voice_for(self, speaker: str | None, gender: Gender = "unknown") -> Voice:
        """``speaker``'s voice, cast on first use (for pitch range ``gender``) and kept for the session."""
        label = speaker or FIRST
        if label not in self.voices:
            self.ranges[label] = gender
            self.voices[label] = cast(list(self.ranges.items()), self.language, self._all, self._request)[label]
        return self.voices[label]

    def judge(self, event: TranslationEvent) -> Gender:
        """The pitch range of ``event``'s source speech (``unknown`` without a :attr:`source`)."""
        return pitch_range(self.source(event.start_s, event.end_s)) if self.source is not None else "unknown"

    def parts(self, event: TranslationEvent) -> list[str]:
        """``event``'s text in the parts :meth:`speak` synthesizes one at a time (a short first
        part, then longer ones, each synthesized while the one before it plays)."""
        assert event.text is not None
        return split_parts(event.text, self.language)

    def speak(
        self, event: TranslationEvent, clock: Callable[[], float], part: int = 0, parts: Sequence[str] = ()
    ) -> SpeechEvent | SpeechSkippedEvent:
        """Synthesize part ``part`` of ``event``'s text and place it; ``parts`` are the text's
        parts as :meth:`parts` gives them (split here when not given); ``clock()`` reads the
        stream time (s) when the audio is ready. Only a first part is ever skipped; then the
        caller drops the others."""
        parts = parts or self.parts(event)
        with self._lock:
            number = next(self._ids)
            known = self.voices.get(event.speaker or FIRST)
            voice = known or self.voice_for(event.speaker, self.judge(event))
            if part == 0 or self._speed[0] != event.segment:  # one rate for all of a sentence
                self._speed = (event.segment, self.scheduler.speed(event.end_s, clock()))
            speed = self._speed[1]
            speech = trim_silence(self._synths[voice.engine].synthesize(parts[part], voice, speed))
            clip = SpeechPart(event.segment, event.start_s, event.end_s, speech.duration_s, part)
            placed = self.scheduler.place(clip, clock())
            if placed.skipped:
                return SpeechSkippedEvent(number, event.segment, event.text or "", placed.delay_s, "behind")
            audio = soxr.resample(speech.samples, speech.sample_rate, SPEECH_RATE).astype(np.float32)
            audio = self._stretch(audio, SPEECH_RATE, placed.tempo)
            pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
            return SpeechEvent(number, event.segment, parts[part], self.language, voice.id, placed.start_s,
                               event.start_s, event.end_s, placed.tempo, pcm, speaker=event.speaker, part=part,
                               parts=len(parts), speed=speed)  # fmt: skip
