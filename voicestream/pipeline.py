"""The file job: decoded audio -> VAD windows -> Whisper -> guards -> sentence segments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from voicestream.asr import AsrEngine, DecodeOptions, language_codes
from voicestream.asr.guards import GuardSettings, apply_guards
from voicestream.asr.speculative import SpeculativeStats
from voicestream.diarize.attribution import attribute_words, snap_to_sentences
from voicestream.errors import NoSpeechError, OptionError
from voicestream.messages import Diarization, Segment, Transcript, Word, join_words, monotonic_words
from voicestream.sentences import attach_punctuation, group_sentences
from voicestream.timebase import samples_to_seconds, seconds_to_samples
from voicestream.translate.base import Sentence
from voicestream.translate.choose import route_label
from voicestream.vad import VoiceActivityDetector, Window, plan_windows

if TYPE_CHECKING:
    from voicestream.translate.base import Translator

ProgressHook = Callable[[float, float], None]
"""Called with (seconds of audio done, total seconds)."""
WordsHook = Callable[[list[Word]], None]
"""Called with each window's words as soon as they are decoded (times in file seconds)."""


@dataclass(frozen=True, slots=True)
class TranscribeSettings:
    """Options of one file transcription.

    Attributes:
        decode: Decoder options; ``decode.language=None`` detects the language once per file.
        guards: Hallucination guard thresholds.
        max_window_s: Longest ASR window (s).
        max_gap_s: Longest silence (s) kept whole inside one ASR window; longer ones are
            cut to a short bridge.
        prompt_words: Words of already accepted text given to the next window as context
            (keeps punctuation/casing consistent and helps one-word windows); 0 disables.
    """

    decode: DecodeOptions = field(default_factory=DecodeOptions)
    guards: GuardSettings = field(default_factory=GuardSettings)
    max_window_s: float = 29.0
    max_gap_s: float = 2.0
    prompt_words: int = 40


def check_language(engine: AsrEngine, decode: DecodeOptions) -> None:
    """Raise :class:`OptionError` when ``engine`` cannot do what ``decode`` asks."""
    codes = language_codes()
    if decode.language is not None and decode.language not in codes:
        raise OptionError(f"unknown language code '{decode.language}'; use auto or one of: {', '.join(codes)}")
    if engine.multilingual:
        return
    if decode.task == "translate":
        raise OptionError(
            f"model '{engine.name}' is English-only and cannot translate; use a multilingual model such as base"
        )
    if decode.language not in (None, "en"):
        raise OptionError(
            f"model '{engine.name}' is English-only; use a multilingual model such as base for '{decode.language}'"
        )


def window_audio(samples: npt.NDArray[np.float32], window: Window) -> npt.NDArray[np.float32]:
    """The speech of ``window`` cut from ``samples`` (float32 ``(n,)``, 16 kHz) and joined."""
    parts = [samples[seconds_to_samples(p.start_s) : seconds_to_samples(p.end_s)] for p in window.pieces]
    return np.concatenate(parts)


def detect_file_language(engine: AsrEngine, samples: npt.NDArray[np.float32], windows: list[Window]) -> str:
    """The file's language from two views of its start: the speech of the first ``windows``
    (about 30 s, joined) and the first 30 s as recorded; the more confident view wins.

    Speech alone loses the context around VAD cuts, the opening as recorded can be mostly
    silence or music. Measured with base on v2_dev's 62 English utterances and the 32
    clips in other languages (de es fr it ja ko pt zh): 93 of 94 right, against 92 with
    either view alone and 92 for ``WhisperModel.transcribe(vad_filter=True)``
    (benchmarks/accuracy.py prints the comparison).
    """
    first: list[npt.NDArray[np.float32]] = []
    for w in windows:
        first.append(window_audio(samples, w))
        if sum(c.size for c in first) >= seconds_to_samples(30.0):
            break
    speech = np.concatenate(first) if first else samples[: seconds_to_samples(30.0)]
    opening = samples[: seconds_to_samples(30.0)]
    language, probability = engine.detect_language(speech)
    if opening.size and not np.array_equal(opening, speech[: opening.size]):
        other, other_probability = engine.detect_language(opening)
        if other_probability > probability:
            language = other
    return language


def transcribe_samples(
    samples: npt.NDArray[np.float32],
    engine: AsrEngine,
    vad: VoiceActivityDetector,
    settings: TranscribeSettings | None = None,
    progress: ProgressHook | None = None,
    on_words: WordsHook | None = None,
) -> Transcript:
    """Transcribe a whole waveform.

    Args:
        samples: float32, shape ``(n,)``, 16 kHz mono.
        engine: ASR engine.
        vad: Voice activity detector.
        settings: Options.
        progress: Called after each window with (seconds done, total seconds).
        on_words: Called after each window with the words it added (may be none).

    Raises:
        NoSpeechError: the audio is empty or nothing in it is speech.
        OptionError: the language or task does not fit the model.
    """
    settings = settings or TranscribeSettings()
    check_language(engine, settings.decode)
    duration = samples_to_seconds(samples.size)
    if samples.size == 0:
        raise NoSpeechError("no audio samples: the file decodes to zero-length audio")
    windows = plan_windows(vad.regions(samples), max_window_s=settings.max_window_s, max_gap_s=settings.max_gap_s)
    if not windows:
        raise NoSpeechError("no speech found in the audio")

    decode = settings.decode
    if decode.language is None:
        decode = replace(decode, language=detect_file_language(engine, samples, windows))

    stats = SpeculativeStats()
    words: list[Word] = []
    for window in windows:
        context = join_words(words[-settings.prompt_words :]) if settings.prompt_words and words else ""
        prompt = " ".join(p for p in (settings.decode.initial_prompt, context) if p) or None
        window_decode = replace(decode, initial_prompt=prompt)
        segments = engine.transcribe(window_audio(samples, window), 0.0, window_decode, stats=stats)
        before = len(words)
        for seg in apply_guards(segments, settings.guards):
            placed = [
                replace(w, start_s=a, end_s=b) for w in seg.words for a, b in [window.to_source(w.start_s, w.end_s)]
            ]
            words.extend(monotonic_words(placed, words[-1].end_s if words else 0.0))
        if on_words is not None:
            on_words(words[before:])
        if progress is not None:
            progress(window.end_s, duration)
    if not words:
        raise NoSpeechError("no words recognised in the audio (only noise or silence)")
    return Transcript(
        language=str(decode.language),
        duration_s=duration,
        model=engine.name,
        segments=tuple(group_sentences(attach_punctuation(words))),
        speculative=stats.snapshot() if engine.speculative and decode.beam_size == 1 else None,
    )


def label_speakers(transcript: Transcript, diarization: Diarization) -> Transcript:
    """``transcript`` with every word attributed to a speaker (by the exclusive turns, changes
    snapped to nearby sentence ends), segments split at speaker changes, and the turns kept
    for RTTM."""

    words = snap_to_sentences(attribute_words(transcript.words, diarization.exclusive))
    return replace(transcript, segments=tuple(group_sentences(words)), turns=diarization.turns)


def translate_transcript(
    transcript: Transcript, samples: npt.NDArray[np.float32], translator: Translator, target: str
) -> Transcript:
    """``transcript`` with each segment's ``translation`` into ``target``: whole sentences are
    translated (never cue fragments); speech engines get each sentence's audio."""

    spans = sentence_audio_spans(transcript.segments, transcript.duration_s)
    sentences = [
        Sentence(s.text, samples[seconds_to_samples(a) : seconds_to_samples(b)])
        for s, (a, b) in zip(transcript.segments, spans, strict=True)
    ]
    texts = translator.translate(sentences, transcript.language, target)
    segments = tuple(replace(s, translation=t) for s, t in zip(transcript.segments, texts, strict=True))
    label = route_label(translator, transcript.language, target)
    return replace(transcript, segments=segments, translation_language=target, translator=label)


SENTENCE_MARGIN_S = 1.0
"""Audio (s) a sentence's speech is taken with on each side for speech translation, up to
the middle of the pause to the next sentence: word times clip onsets and endings."""


def sentence_audio_spans(segments: tuple[Segment, ...], duration_s: float) -> list[tuple[float, float]]:
    """Where each segment's audio starts and ends (s): its words' span widened by up to
    :data:`SENTENCE_MARGIN_S`, never past the middle of the pause to a neighbour.

    Measured on v2_dev's 22 translation clips (base): corpus chrF 41.97 from the words'
    span alone, 42.41 with 0.4 s margins (benchmarks/accuracy.py).
    """
    spans = []
    for k, seg in enumerate(segments):
        lo = (segments[k - 1].end_s + seg.start_s) / 2 if k else 0.0
        hi = (seg.end_s + segments[k + 1].start_s) / 2 if k + 1 < len(segments) else duration_s
        spans.append((max(lo, seg.start_s - SENTENCE_MARGIN_S), min(hi, seg.end_s + SENTENCE_MARGIN_S)))
    return spans
