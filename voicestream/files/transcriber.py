"""Files to subtitles with the models loaded once: the job behind ``voicestream transcribe``.

A :class:`FileTranscriber` is built from two frozen settings objects (plain values, so a
worker process or a Ray actor can build its own from them) and then transcribes any number
of files: ASR, then speaker labels and translation when asked, then one output per format.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from voicestream import media, registry
from voicestream.asr import DecodeOptions, DraftPolicy, language_codes
from voicestream.asr.speculative import DraftSettings
from voicestream.diarize.base import SpeakerCount
from voicestream.diarize.engine import PyannoteDiarizer, load_diarizer
from voicestream.errors import OptionError
from voicestream.messages import SpeculativeCounts, Transcript
from voicestream.output import write_text
from voicestream.pipeline import (
    TranscribeSettings,
    check_language,
    label_speakers,
    transcribe_samples,
    translate_transcript,
)
from voicestream.subtitles import SubtitleRules, build_cues
from voicestream.subtitles.formats import NEEDS_SPEAKERS, render
from voicestream.timebase import SAMPLE_RATE
from voicestream.translate.base import Translator
from voicestream.translate.choose import choose
from voicestream.translate.layout import bilingual_cues, translated_cues

StageHook = Callable[[str, float, float], None]
"""Progress of one file: ``(stage, done_s, total_s)`` with stage ``transcribing`` or
``speakers`` and seconds of audio."""


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Which models a transcriber loads (see ``voicestream transcribe --help``).

    Attributes:
        model: Whisper model name, hub id or folder (``None``: the default).
        device: ``cpu``, ``cuda`` or ``auto``.
        compute_type: CTranslate2 compute type (``default``: int8 on CPU).
        draft_model: Draft model of speculative decoding, or ``None``.
        draft: Draft lengths, ``None`` for the defaults.
        draft_policy: When the draft model is used.
        diarize: Whether speaker models are loaded.
        diarize_model: Speaker pipeline name (``None``: the embedded one).
        hf_token: Hugging Face token for gated hub pipelines.
        cpu_threads: Whisper's CPU threads, ``None`` for every core of this process (a
            worker sharing a machine with others gets the CPUs it reserved).
    """

    model: str | None = None
    device: str = "cpu"
    compute_type: str = "default"
    draft_model: str | None = None
    draft: DraftSettings | None = None
    draft_policy: DraftPolicy = "auto"
    diarize: bool = False
    diarize_model: str | None = None
    hf_token: str | None = field(default=None, repr=False)
    cpu_threads: int | None = None


@dataclass(frozen=True, slots=True)
class FileSettings:
    """What is made of each file.

    Attributes:
        decode: Whisper decoding options (language ``None``: detected per file).
        speakers: What is known of the number of speakers.
        rules: Cue limits (``label_in_text`` is set per format).
        translate_to: Language the subtitles are translated into, or ``None``.
        translator: Translation engine name, ``None`` for the first with the pair.
        bilingual: Whether each cue holds the source and its translation.
    """

    decode: DecodeOptions = field(default_factory=DecodeOptions)
    speakers: SpeakerCount = field(default_factory=SpeakerCount)
    rules: SubtitleRules = field(default_factory=SubtitleRules)
    translate_to: str | None = None
    translator: str | None = None
    bilingual: bool = False


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What one file became.

    Attributes:
        audio_s: Length of its audio (s).
        elapsed_s: Wall time spent on it (s).
        cues: Cues written (of the first format).
        language: Language of its speech.
        speakers: Speakers found (0 when not diarized).
        written: Output paths written (``None``: standard output).
        speculative: Drafting counts of speculative decoding, ``None`` when it did not run.
    """

    audio_s: float
    elapsed_s: float
    cues: int
    language: str
    speakers: int
    written: tuple[Path | None, ...]
    speculative: SpeculativeCounts | None = None


class FileTranscriber:
    """Whisper, VAD, and (when asked) speaker models, loaded once for many files."""

    def __init__(self, models: ModelSettings, settings: FileSettings, needs_speakers: bool = False) -> None:
        """Load the models and check ``settings`` against them.

        Args:
            needs_speakers: Load speaker models even without ``models.diarize`` (an RTTM
                output).

        Raises:
            OptionError: a language, task or translation the model or engines cannot do.
            ModelError: a model that cannot be loaded.
        """
        self.models = models
        self.settings = settings
        self._translators: dict[str, Translator] = {}
        decode = settings.decode
        check_settings(settings)
        self.diarizer: PyannoteDiarizer | None = None
        if models.diarize or needs_speakers:
            device = "cpu" if models.device == "auto" else models.device
            self.diarizer = load_diarizer(models.diarize_model, models.hf_token, device)
        self.engine = registry.create_asr_engine(
            models.model,
            models.device,
            models.compute_type,
            draft_model=models.draft_model,
            draft=models.draft,
            draft_policy=models.draft_policy,
            cpu_threads=models.cpu_threads,
        )
        check_language(self.engine, decode)
        self.vad = registry.create_vad()
        if settings.translate_to is not None and decode.language is not None:
            self._translator(decode.language)  # a pair nobody has fails before any audio is decoded

    def _translator(self, language: str) -> Translator:
        """The translator from ``language`` to the target, chosen and loaded once."""
        target = self.settings.translate_to
        assert target is not None
        if language not in self._translators:
            self._translators[language] = choose(language, target, self.settings.translator, self.engine)
        return self._translators[language]

    def transcribe(self, source: Path, hook: StageHook | None = None) -> tuple[Transcript, npt.NDArray[np.float32]]:
        """The transcript of ``source`` (speakers and translation included when asked) and its
        16 kHz samples.

        Raises:
            InputNotFoundError, MediaDecodeError, FfmpegMissingError: the file cannot be read.
            NoSpeechError: it holds no audio.
            OptionError: its language has no translation to the target.
        """
        media.check_input(source)
        samples = media.decode(source)
        total_s = samples.size / SAMPLE_RATE

        def stage(name: str) -> Callable[[float, float], None] | None:
            return None if hook is None else (lambda done, total: hook(name, done, total))

        s = self.settings
        transcript = transcribe_samples(
            samples, self.engine, self.vad, TranscribeSettings(decode=s.decode), stage("transcribing")
        )
        if self.diarizer is not None:
            steps = ("segmentation", "embeddings")

            def step(name: str, fraction: float) -> None:
                if hook is not None and name in steps:
                    hook("speakers", total_s * (steps.index(name) + fraction) / 2, total_s)

            transcript = label_speakers(transcript, self.diarizer.diarize(samples, s.speakers, step))
        if s.translate_to is not None:
            transcript = translate_transcript(
                transcript, samples, self._translator(transcript.language), s.translate_to
            )
        return transcript, samples

    def render(self, transcript: Transcript, fmt: str, name: str) -> tuple[str, int]:
        """``transcript`` in format ``fmt`` (``name``: the recording's name in RTTM) and its cue count."""
        s = self.settings
        rules = replace(s.rules, label_in_text=fmt != "vtt")
        if s.translate_to is not None:
            lay = bilingual_cues if s.bilingual else translated_cues
            cues = lay(transcript.segments, s.translate_to, transcript.duration_s, rules)
        else:
            cues = build_cues(transcript.words, transcript.duration_s, rules)
        return render(fmt, transcript, cues, name, s.bilingual), len(cues)

    def run(
        self, source: Path, outputs: Sequence[tuple[Path | None, str]], hook: StageHook | None = None
    ) -> FileOutcome:
        """Transcribe ``source`` and write each ``(path, format)`` of ``outputs`` atomically
        (path ``None``: standard output); raises as :meth:`transcribe` and ``OutputError``."""
        started = time.perf_counter()
        transcript, samples = self.transcribe(source, hook)
        cues: list[int] = []
        for path, fmt in outputs:
            text, count = self.render(transcript, fmt, source.stem)
            write_text(path, text)
            cues.append(count)
        return FileOutcome(
            audio_s=samples.size / SAMPLE_RATE,
            elapsed_s=time.perf_counter() - started,
            cues=cues[0] if cues else 0,
            language=transcript.language,
            speakers=len(transcript.speakers) if self.diarizer is not None else 0,
            written=tuple(path for path, _ in outputs),
            speculative=transcript.speculative,
        )


def check_settings(settings: FileSettings) -> None:
    """Raise :class:`OptionError` for settings that cannot work whatever the models
    (checked before any model loads, on the machine that plans a batch)."""
    if settings.translate_to is None and (settings.bilingual or settings.translator):
        raise OptionError("--bilingual and --translator need --translate-to LANG")
    if settings.translate_to is not None:
        if settings.translate_to not in language_codes():
            raise OptionError(f"unknown --translate-to language '{settings.translate_to}'")
        if settings.decode.task == "translate":
            raise OptionError("--task translate already writes English; use --translate-to en instead of both")
    codes = language_codes()
    if settings.decode.language is not None and settings.decode.language not in codes:
        raise OptionError(f"unknown language code '{settings.decode.language}'; use auto or one of: {', '.join(codes)}")


def needs_speakers(formats: Sequence[str]) -> bool:
    """Whether any of ``formats`` needs speaker labels (RTTM)."""
    return any(fmt in NEEDS_SPEAKERS for fmt in formats)
