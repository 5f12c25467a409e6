"""The dubbing job: transcribe (+ speakers) -> translate -> voices -> fit -> mix -> mux, resumable."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import soxr

from voicestream import media
from voicestream.asr import AsrEngine, DecodeOptions
from voicestream.audio.mix import MIX_RATE, fit_length, mix, place
from voicestream.diarize.base import Diarizer, SpeakerCount
from voicestream.dub.cache import JobCache, file_hash, key, transcript_from_json, transcript_to_json
from voicestream.dub.loudness import LoudnessTarget, loudnorm_filter
from voicestream.dub.mux import MuxJob, check_output, mux
from voicestream.dub.progress import Quiet, StageProgress
from voicestream.dub.selfcheck import Check, ClipChecker
from voicestream.dub.timing import FitSettings, Slot, Span, plan_slots
from voicestream.dub.voicing import LEAD_S, FittedClip, make_clip, placed_at
from voicestream.errors import NoSpeechError, OptionError
from voicestream.messages import Transcript
from voicestream.pipeline import TranscribeSettings, label_speakers, transcribe_samples, translate_transcript
from voicestream.separation import SEPARATION_RATE, Separator
from voicestream.subtitles import SubtitleRules
from voicestream.subtitles.burn import burn_in
from voicestream.subtitles.formats import render
from voicestream.subtitles.read import SourceCue
from voicestream.timebase import SAMPLE_RATE, seconds_to_samples
from voicestream.translate.base import Translator
from voicestream.translate.choose import route_label
from voicestream.translate.layout import translated_cues
from voicestream.translate.subtitle_text import subtitles_transcript
from voicestream.tts.base import Synthesizer, Voice
from voicestream.tts.cast import VoiceRequest, cast
from voicestream.tts.pitch import gender_from_f0, median_f0
from voicestream.vad import VoiceActivityDetector

Background = Literal["separate", "duck", "none"]
"""What plays under the dub: the source without its voices, the source ducked 15 dB, or nothing."""
BACKGROUNDS: tuple[Background, ...] = ("separate", "duck", "none")
ClipStatus = Literal["ok", "beyond_bound", "low_similarity", "overflow"]
"""How a dubbed utterance fits: in bounds, squeezed past the stretch bound, read back badly, cut."""
SOLO = "Speaker 1"
"""Speaker label of every utterance when speakers are not told apart."""


@dataclass(frozen=True, slots=True)
class DubOptions:
    """What to make.

    Attributes:
        target: ISO 639-1 code of the dub.
        source_language: Code of the speech, ``None`` to detect.
        voice: Raw ``--voice`` request, parsed into ``request``.
        request: Voices asked for.
        speakers: Speaker-count constraints; ``diarize`` False treats everything as one speaker.
        background: ``separate`` (music and effects kept, voices removed), ``duck`` (the original
            audio, ducked under the dub) or ``none`` (the dub alone).
        duck_db: Background attenuation (dB) under dubbed speech.
        loudness: Loudness target of the dub track.
        keep_original: Also mux the original audio as a second track.
        subtitles: Also mux the translated subtitles as a soft track.
        burn_subtitles: Burn the translated subtitles (ASS, a style per speaker) into the picture.
        fit: Timing bounds.
        min_similarity: Self-check threshold (0..1); 0 turns the self-check off.
        decode: ASR options of the transcription.
        text_from: Dub this subtitle file's text instead of transcribing (``None``: transcribe).
    """

    target: str
    source_language: str | None = None
    request: VoiceRequest = field(default_factory=VoiceRequest)
    diarize: bool = True
    speakers: SpeakerCount = field(default_factory=SpeakerCount)
    background: Background = "separate"
    duck_db: float = 8.0
    loudness: LoudnessTarget = field(default_factory=LoudnessTarget)
    keep_original: bool = False
    subtitles: bool = False
    burn_subtitles: bool = False
    fit: FitSettings = field(default_factory=FitSettings)
    min_similarity: float = 0.6
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    text_from: TextFrom | None = None


@dataclass(frozen=True, slots=True)
class TextFrom:
    """A subtitle file the dub is made from: its ``path`` (for the report) and its cues."""

    path: str
    cues: tuple[SourceCue, ...]


@dataclass(frozen=True, slots=True)
class DubEngines:
    """The engines a job uses (shared, created by :mod:`voicestream.registry`)."""

    asr: AsrEngine
    vad: VoiceActivityDetector
    translator_for: Callable[[str, str], Translator]
    synthesizers: list[Synthesizer]
    diarizer: Diarizer | None = None
    separator: Separator | None = None
    checker_asr: AsrEngine | None = None


@dataclass(frozen=True, slots=True)
class Utterance:
    """One report row: a source sentence, its dub and how it was fitted and checked."""

    index: int
    speaker: str
    start_s: float
    end_s: float
    limit_s: float
    source_text: str
    target_text: str
    voice: str
    speed: float
    stretch: float
    natural_s: float
    placed_start_s: float
    placed_end_s: float
    overflow_s: float
    heard: str | None
    similarity: float | None
    attempts: int
    status: ClipStatus


@dataclass(frozen=True, slots=True)
class DubResult:
    """What a job made: the output, its report, the speech-only track and per-stage seconds."""

    output: Path
    report: Path
    speech_track: Path
    utterances: list[Utterance]
    voices: dict[str, str]
    timings: dict[str, float]
    cache_dir: Path
    failed: list[int]


def _status(clip: FittedClip, cfg: FitSettings, min_similarity: float) -> ClipStatus:
    if clip.overflow_s > 0:
        return "overflow"
    if clip.check is not None and clip.check.similarity < min_similarity:
        return "low_similarity"
    if clip.tempo > cfg.max_tempo + 1e-6:
        return "beyond_bound"
    return "ok"


class DubJob:
    """One input dubbed into one output. Every stage's result is cached under ``cache_root``."""

    def __init__(
        self, engines: DubEngines, options: DubOptions, cache_root: Path, progress: StageProgress | None = None
    ):
        self.engines = engines
        self.options = options
        self.root = cache_root
        self.progress = progress or Quiet()
        self.timings: dict[str, float] = {}

    def _timed(self, name: str, started: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started

    def run(self, source: Path, output: Path) -> DubResult:
        """Dub ``source`` into ``output`` and write ``output``'s ``.dub.json`` report."""
        t0 = time.perf_counter()
        info = media.probe(source)
        check_output(output, info.has_video)
        cache = JobCache(self.root, file_hash(info.path))
        samples = media.decode(info.path)
        if samples.size == 0:
            raise NoSpeechError("no audio samples: the input decodes to zero-length audio")
        duration = samples.size / SAMPLE_RATE
        self._timed("decode", t0)

        transcript = self._transcript(cache, samples, duration)
        transcript = self._translation(cache, transcript, samples)
        lines = [s for s in transcript.segments if (s.translation or "").strip()]
        if not lines:
            raise NoSpeechError("nothing to dub: no translated speech")
        spans = [Span(s.start_s, s.end_s, s.speaker or SOLO) for s in lines]
        slots = plan_slots(spans, duration, transcript.turns, self.options.fit)

        stems = self._background(cache, info.path, duration)
        voices = self._cast(cache, samples, spans, stems)
        clips = self._clips(cache, lines, spans, slots, voices)

        t = time.perf_counter()
        n = round(duration * MIX_RATE)
        speech = place([(placed_at(slot), clip.samples) for slot, clip in zip(slots, clips, strict=True)], n)
        background = stems
        duck = self.options.duck_db if self.options.background == "separate" else max(self.options.duck_db, 15.0)
        mixed = mix(speech, background, duck if background is not None else 0.0)
        speech_path = cache.write_audio("last/speech.wav", speech, MIX_RATE)
        mix_path = cache.write_audio("last/mix.wav", mixed, MIX_RATE)
        self._timed("mix", t)

        t = time.perf_counter()
        subs = None
        if self.options.subtitles:
            subs = cache.path("last/subtitles.srt")
            subs.write_text(_cues_text("srt", transcript, self.options.target), encoding="utf-8")
        burn = self.options.burn_subtitles and info.has_video
        done = self.progress.stage("mux", 3 if burn else 2, "steps")
        flt = loudnorm_filter(mix_path, self.options.loudness)
        done(1)
        muxed = cache.path(f"last/muxed{output.suffix}") if burn else output
        mux(MuxJob(info.path, mix_path, muxed, self.options.target, transcript.language, flt,
                   self.options.keep_original, subs, info.has_video))  # fmt: skip
        done(2)
        if burn:
            burn_in(muxed, _cues_text("ass", transcript, self.options.target), output, keep_soft=True)
            done(3)
        self._timed("mux", t)

        rows = [self._row(i, line, span, slot, clip, voices[span.speaker or SOLO])
                for i, (line, span, slot, clip) in enumerate(zip(lines, spans, slots, clips, strict=True))]  # fmt: skip
        failed = [r.index for r in rows if r.status in ("overflow", "low_similarity")]
        self.timings["total"] = time.perf_counter() - t0
        report = report_path(output)
        cast_ids = {s: v.id for s, v in voices.items()}
        report.write_text(json.dumps({
            "input": str(info.path), "output": str(output), "source_language": transcript.language,
            "target_language": self.options.target, "translator": transcript.translator, "duration_s": duration,
            "text_from": self.options.text_from.path if self.options.text_from else "transcription",
            "background": self.options.background, "loudness_target_lufs": self.options.loudness.integrated,
            "voices": cast_ids, "min_similarity": self.options.min_similarity,
            "failed": failed, "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "utterances": [asdict(r) for r in rows],
        }, ensure_ascii=False, indent=1), encoding="utf-8")  # fmt: skip
        return DubResult(output, report, speech_path, rows, cast_ids, dict(self.timings), cache.dir, failed)

    def _transcript(self, cache: JobCache, samples: npt.NDArray[np.float32], duration: float) -> Transcript:
        diarizer = self.engines.diarizer if self.options.diarize else None
        if self.options.text_from is not None:
            return self._given_text(self.options.text_from, samples, duration, diarizer)
        k = key(
            "transcript",
            self.engines.asr.name,
            asdict(self.options.decode),
            bool(diarizer),
            asdict(self.options.speakers),
        )
        stored = cache.read_json(f"transcript-{k}.json")
        if stored is not None:
            self.progress.note("transcript reused from the cache")
            return transcript_from_json(stored)
        t = time.perf_counter()
        bar = self.progress.stage("transcribe", duration, "s audio")
        settings = TranscribeSettings(decode=self.options.decode)
        transcript = transcribe_samples(
            samples, self.engines.asr, self.engines.vad, settings, lambda done, total: bar(done)
        )
        bar(duration)
        self._timed("transcribe", t)
        if diarizer is not None:
            t = time.perf_counter()
            bar = self.progress.stage("speakers", 2, "steps")
            steps = ("segmentation", "embeddings")

            def step(name: str, fraction: float) -> None:
                if name in steps:
                    bar(steps.index(name) + fraction)

            transcript = label_speakers(transcript, diarizer.diarize(samples, self.options.speakers, step))
            self._timed("speakers", t)
        cache.write_json(f"transcript-{k}.json", transcript_to_json(transcript))
        return transcript

    def _given_text(
        self, given: TextFrom, samples: npt.NDArray[np.float32], duration: float, diarizer: Diarizer | None
    ) -> Transcript:
        """The subtitle file as the transcript: its language given or detected from the
        audio; its speakers, or the diarizer's when the file names none."""
        language = self.options.source_language or self.engines.asr.detect_language(samples)[0]
        cues = list(given.cues) if self.options.diarize else [replace(c, speaker=None) for c in given.cues]
        transcript = subtitles_transcript(cues, language)
        transcript = replace(transcript, duration_s=max(duration, transcript.duration_s))
        if diarizer is not None and not any(c.speaker for c in cues):
            t = time.perf_counter()
            bar = self.progress.stage("speakers", 1, "steps")
            transcript = label_speakers(transcript, diarizer.diarize(samples, self.options.speakers))
            bar(1)
            self._timed("speakers", t)
        self.progress.note(f"text from {given.path}: {len(transcript.segments)} sentences")
        return transcript

    def _translation(self, cache: JobCache, transcript: Transcript, samples: npt.NDArray[np.float32]) -> Transcript:
        if transcript.language == self.options.target:
            raise OptionError(f"the speech is already in '{self.options.target}'; nothing to dub")
        translator = self.engines.translator_for(transcript.language, self.options.target)
        route = route_label(translator, transcript.language, self.options.target)
        k = key("translation", transcript_to_json(transcript), route, self.options.target)
        stored = cache.read_json(f"translation-{k}.json")
        if stored is not None:
            self.progress.note("translation reused from the cache")
            return transcript_from_json(stored)
        t = time.perf_counter()
        bar = self.progress.stage("translate", 1, "steps")
        translated = translate_transcript(transcript, samples, translator, self.options.target)
        bar(1)
        self._timed("translate", t)
        cache.write_json(f"translation-{k}.json", transcript_to_json(translated))
        return translated

    def _background(self, cache: JobCache, source: Path, duration: float) -> npt.NDArray[np.float32] | None:
        if self.options.background == "none":
            return None
        n = round(duration * MIX_RATE)
        if self.options.background == "duck" or self.engines.separator is None:
            stereo = media.decode_stereo(source, MIX_RATE)
            return fit_length(stereo, n)
        name = f"stems-{key(self.engines.separator.name)}/accompaniment.wav"
        stored = cache.read_audio(name)
        if stored is None:
            t = time.perf_counter()
            bar = self.progress.stage("separate", duration, "s audio")
            stereo = media.decode_stereo(source, SEPARATION_RATE)
            vocals, accompaniment = self.engines.separator.separate(stereo)
            cache.write_audio(name.replace("accompaniment", "vocals"), vocals, SEPARATION_RATE)
            cache.write_audio(name, accompaniment, SEPARATION_RATE)
            bar(duration)
            self._timed("separate", t)
            stored = (accompaniment, SEPARATION_RATE)
        else:
            self.progress.note("separated background reused from the cache")
        audio, rate = stored
        resampled = soxr.resample(audio.T, rate, MIX_RATE).T.astype(np.float32)
        return fit_length(resampled, n)

    def _cast(
        self, cache: JobCache, samples: npt.NDArray[np.float32], spans: list[Span],
        stems: npt.NDArray[np.float32] | None,
    ) -> dict[str, Voice]:  # fmt: skip
        t = time.perf_counter()
        talk: dict[str, float] = {}
        for start, end, speaker_name in spans:
            speaker = speaker_name or SOLO
            talk[speaker] = talk.get(speaker, 0.0) + end - start
        order = sorted(talk, key=lambda s: -talk[s])
        genders = []
        for speaker in order:
            own = [(a, b) for a, b, s in spans if s == speaker]
            genders.append((speaker, gender_from_f0(median_f0(samples, own))))
        references = {}
        if "xtts" in self.options.request.engines or any("xtts" in v for v in self.options.request.ordered):
            for speaker in order:
                references[speaker] = str(
                    self._reference(cache, samples, [(a, b) for a, b, s in spans if s == speaker], speaker)
                )
        voices = cast(genders, self.options.target, self.engines.synthesizers, self.options.request, references)
        self._timed("voices", t)
        return voices

    def _reference(
        self, cache: JobCache, samples: npt.NDArray[np.float32], own: list[tuple[float, float]], speaker: str
    ) -> Path:
        """3-10 s of the speaker alone (their longest turns, joined), for voice cloning."""
        pieces, total = [], 0
        for a, b in sorted(own, key=lambda ab: ab[0] - ab[1]):
            piece = samples[seconds_to_samples(a) : seconds_to_samples(min(b, a + 10.0))]
            pieces.append(piece)
            total += piece.size
            if total >= seconds_to_samples(10.0):
                break
        clip = np.concatenate(pieces)[: seconds_to_samples(10.0)] if pieces else np.zeros(0, np.float32)
        return cache.write_audio(f"refs/{key(speaker)}.wav", clip, SAMPLE_RATE)

    def _clips(
        self, cache: JobCache, lines: list[Any], spans: list[Span], slots: list[Slot],
        voices: dict[str, Voice],
    ) -> list[FittedClip]:  # fmt: skip
        checker = None
        if self.options.min_similarity > 0:
            checker = ClipChecker(self.engines.checker_asr or self.engines.asr, self.options.target)
        engines = {s.name: s for s in self.engines.synthesizers}
        bar = self.progress.stage("voices", len(lines), "clips")
        out = []
        for i, (line, span, slot) in enumerate(zip(lines, spans, slots, strict=True)):
            voice = voices[span.speaker or SOLO]
            fit, similarity = asdict(self.options.fit), self.options.min_similarity
            k = key("clip", voice.id, voice.reference and file_hash(Path(voice.reference)), line.translation,
                    asdict(slot), fit, similarity, checker is not None)  # fmt: skip
            clip = _load_clip(cache, k)
            if clip is None:
                t = time.perf_counter()
                clip = make_clip(line.translation, voice, engines[voice.engine], slot, self.options.fit, checker,
                                 self.options.min_similarity)  # fmt: skip
                _store_clip(cache, k, clip)
                self._timed("voices", t)
                if clip.check is not None and clip.check.similarity < self.options.min_similarity:
                    self.progress.note(
                        f"clip {i} failed its self-check ({clip.check.similarity:.2f}): {line.translation!r}"
                    )
            out.append(clip)
            bar(i + 1)
        return out

    def _row(self, i: int, line: Any, span: Span, slot: Slot, clip: FittedClip, voice: Voice) -> Utterance:
        at = placed_at(slot)
        return Utterance(
            index=i, speaker=span.speaker or SOLO, start_s=round(slot.start_s, 3), end_s=round(slot.end_s, 3),
            limit_s=round(slot.limit_s, 3), source_text=line.text, target_text=line.translation, voice=voice.id,
            speed=round(clip.speed, 3), stretch=round(clip.tempo, 3), natural_s=round(clip.natural_s, 3),
            placed_start_s=round(at + LEAD_S, 3), placed_end_s=round(at + clip.duration_s, 3),
            overflow_s=round(clip.overflow_s, 3), heard=clip.check.heard if clip.check else None,
            similarity=round(clip.check.similarity, 3) if clip.check else None, attempts=clip.attempts,
            status=_status(clip, self.options.fit, self.options.min_similarity),
        )  # fmt: skip


def _load_clip(cache: JobCache, k: str) -> FittedClip | None:
    meta = cache.read_json(f"clips/{k}.json")
    audio = cache.read_audio(f"clips/{k}.wav")
    if meta is None or audio is None:
        return None
    check = Check(meta["heard"], meta["similarity"]) if meta.get("heard") is not None else None
    return FittedClip(
        audio[0][0], meta["speed"], meta["tempo"], meta["natural_s"], meta["overflow_s"], check, meta["attempts"]
    )


def _store_clip(cache: JobCache, k: str, clip: FittedClip) -> None:
    cache.write_audio(f"clips/{k}.wav", clip.samples, MIX_RATE)
    cache.write_json(f"clips/{k}.json", {
        "speed": clip.speed, "tempo": clip.tempo, "natural_s": clip.natural_s, "overflow_s": clip.overflow_s,
        "attempts": clip.attempts, "heard": clip.check.heard if clip.check else None,
        "similarity": clip.check.similarity if clip.check else None,
    })  # fmt: skip


def _cues_text(fmt: str, transcript: Transcript, target: str) -> str:
    """The translated subtitles in ``fmt`` (``srt`` for the soft track, ``ass`` to burn in)."""
    cues = translated_cues(transcript.segments, target, transcript.duration_s, SubtitleRules())
    return render(fmt, transcript, cues)


def temporary_root() -> tempfile.TemporaryDirectory[str]:
    """A throw-away cache folder (``--no-cache``)."""
    return tempfile.TemporaryDirectory(prefix="voicestream-dub-")


def report_path(output: Path) -> Path:
    """``OUT.dub.json`` next to ``OUT.mp4``."""
    return output.parent / (output.stem + ".dub.json")
