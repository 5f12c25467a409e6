"""Speech recognition engines: Whisper through faster-whisper / CTranslate2."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from voicestream.errors import ModelError
from voicestream.messages import Word
from voicestream.timebase import SAMPLE_RATE

if TYPE_CHECKING:
    from voicestream.catalog import ResolvedModel
    from voicestream.speculative import DraftSettings, SpeculativeStats

log = logging.getLogger(__name__)

FRAMES_PER_SECOND = 100
"""Whisper log-mel frames per second (hop of 160 samples at 16 kHz)."""
FULL_WINDOW_FRAMES = 3000
"""Whisper's native input: 30 s of log-mel frames."""


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """How to decode one window.

    Attributes:
        language: ISO code, or ``None`` to use the language detected for the file.
        task: ``"transcribe"`` or ``"translate"`` (to English, multilingual models only).
        beam_size: Beam width; 1 is greedy.
        temperatures: Fallback temperatures tried when a guard trips.
        compression_ratio_threshold: gzip ratio above which a decode counts as repetitive.
        log_prob_threshold: Mean token log-probability below which a decode counts as failed.
        no_speech_threshold: With a failed log-prob, no-speech probability above which the
            window is treated as silence and yields nothing.
        initial_prompt: Text given to the decoder as previous context.
        seed: Random seed of the sampling used by temperature fallback (reproducible output).
    """

    language: str | None = None
    task: str = "transcribe"
    beam_size: int = 5
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    initial_prompt: str | None = None
    seed: int = 0


@dataclass(frozen=True, slots=True)
class AsrSegment:
    """One decoded segment, times in absolute stream seconds.

    Attributes:
        start_s, end_s: Segment span (s).
        text: Decoded text, stripped.
        words: Word timings (s), in order.
        avg_logprob: Mean token log-probability.
        no_speech_prob: Probability of the no-speech token; NaN where it was not needed
            (a confident greedy decode: only low log-probabilities make it matter).
        compression_ratio: gzip compression ratio of the text.
        tokens: Decoded token ids (text tokens and, on the beam path, timestamps).
    """

    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    tokens: tuple[int, ...] = ()


class AsrEngine(Protocol):
    """Transcribes windows of at most 30 s. Shared across sessions, stateless per call."""

    name: str
    multilingual: bool

    @property
    def speculative(self) -> bool:
        """Whether greedy windows use the step decoder (and so accept drafts and fill stats)."""
        ...

    def detect_language(self, samples: npt.NDArray[np.float32]) -> tuple[str, float]:
        """Language code and its probability for ``samples`` (float32, shape ``(n,)``, 16 kHz)."""
        ...

    def transcribe(
        self,
        samples: npt.NDArray[np.float32],
        offset_s: float,
        options: DecodeOptions,
        hypothesis: str | None = None,
        stats: SpeculativeStats | None = None,
    ) -> list[AsrSegment]:
        """Decode ``samples`` (float32 ``(n,)``, 16 kHz, at most 30 s) starting at ``offset_s``.

        ``hypothesis`` is text the window is expected to hold (the previous streaming
        update's): greedy decoding verifies it as a draft instead of generating it token
        by token, with the same result. ``stats`` accumulates the drafting counts.
        """
        ...


TOKENS_PER_SECOND = 12
"""Token budget per second of window: fast speech needs about 7 (CJK up to ~10), so
more than this is a decoding loop; bounding it keeps a looping window from costing
seconds of fallback decodes (seen here: 13 s on a 0.9 s one-word window)."""
TOKENS_BASE = 16
"""Tokens allowed on top of the per-second budget (timestamps, punctuation)."""
_PROMPT_OVERHEAD = 8  # sot_prev, sot, language, task, timestamps and slack

DEFAULT_MARGIN_FRAMES = 300
"""Silence frames kept after the audio in a fitted window (see benchmarks/fitted_windows.py)."""


def fitted_frames(
    content_frames: int, total_frames: int = FULL_WINDOW_FRAMES, margin: int = DEFAULT_MARGIN_FRAMES
) -> int:
    """Encoder input length for ``content_frames`` of real audio.

    Rounded up to the next 100 frames plus ``margin`` frames of padding, never more
    than ``total_frames``. Encoding only this much instead of the padded 30 s cuts
    the encoder cost in proportion (DESIGN.md section 3). Measured here (base, 18
    clips): WER 5.41% padded, 3.78% with a 100-frame margin but fewer punctuation
    marks, 4.05% with 300 frames and as much punctuation as padded; 2.5x faster.
    """
    return min(total_frames, math.ceil(content_frames / 100) * 100 + margin)


def _content_frames(features: npt.NDArray[np.float32]) -> int:
    """Frames before the zero padding that faster-whisper appends (features ``(..., 80, T)``)."""
    columns = np.flatnonzero(np.any(features.reshape(-1, features.shape[-1]) != 0.0, axis=0))
    return int(columns[-1]) + 1 if columns.size else 0


def default_cpu_threads() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _load_fitted_model_class() -> type[Any]:
    from faster_whisper import WhisperModel

    class FittedWhisperModel(WhisperModel):  # type: ignore[misc]
        """faster-whisper's model with the encoder input cut to the audio it holds.

        ``margin_frames`` of ``None`` restores the padded 30 s input.
        """

        margin_frames: int | None = DEFAULT_MARGIN_FRAMES

        def encode(self, features: npt.NDArray[np.float32]) -> Any:
            if self.margin_frames is not None:
                total = features.shape[-1]
                frames = fitted_frames(_content_frames(features), total, self.margin_frames)
                features = np.ascontiguousarray(features[..., :frames])
            return super().encode(features)

    return FittedWhisperModel


@dataclass
class FasterWhisperEngine:
    """Whisper on faster-whisper/CTranslate2.

    Attributes:
        model: Resolved model directory.
        device: ``cpu``, ``cuda`` or ``auto``.
        compute_type: CTranslate2 compute type (``int8``, ``float16``, ``default``...).
        fit_windows: Encode only the frames that hold audio instead of padding to 30 s.
        cpu_threads: CTranslate2 threads per worker on CPU.
        workers: Concurrent decodes the model accepts (one per calling thread).
        draft: A smaller Whisper proposing tokens for speculative greedy decoding.
        draft_settings: Adaptive K of the draft model (``None``: defaults).
        draft_policy: ``auto`` drafts with the draft model only where the decoder costs
            measured at load time predict a speed-up (on a GPU, not on a small CPU);
            ``always`` drafts regardless. See :attr:`draft_note`.
        step_decoding: Decode greedy windows on the decoder-state API (exact, and able to
            verify hypothesis drafts); ``False`` uses faster-whisper's own greedy path.
    """

    model: ResolvedModel
    device: str = "cpu"
    compute_type: str = "default"
    fit_windows: bool = True
    cpu_threads: int = field(default_factory=default_cpu_threads)
    workers: int = 1
    draft: ResolvedModel | None = None
    draft_settings: DraftSettings | None = None
    draft_policy: str = "auto"
    step_decoding: bool = True
    draft_note: str = field(init=False, default="")
    draft_cost: Any = field(init=False, default=None)
    name: str = field(init=False)
    multilingual: bool = field(init=False)
    _whisper: Any = field(init=False, repr=False)
    _greedy: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from voicestream import whisper_decode

        if self.draft is not None and not whisper_decode.STEP_API:
            raise ModelError(whisper_decode.STEP_API_MISSING)
        self._whisper = self._load(self.model)
        self.name = self.model.name
        self.multilingual = bool(self._whisper.model.is_multilingual)
        self._greedy = None
        if not (self.step_decoding and whisper_decode.STEP_API):
            return
        from voicestream.speculative import DraftSettings

        settings = self.draft_settings or DraftSettings()
        draft_model, maps = None, None
        if self.draft is not None:
            if self.draft_policy not in ("auto", "always"):
                raise ValueError(f"draft_policy must be auto or always, not {self.draft_policy!r}")
            same = self.draft.path.resolve() == self.model.path.resolve()
            draft_model = self._whisper if same else self._load(self.draft)
            if not same:
                key = (str(self.model.path.resolve()), str(self.draft.path.resolve()))
                maps = whisper_decode.token_maps(self._whisper, draft_model, key)
            cost = whisper_decode.measure_draft_cost(self._whisper, draft_model, max(1, settings.num_tokens))
            self.draft_cost = cost
            if self.draft_policy == "auto" and cost.speedup < 1.0:
                draft_model, maps = None, None
                self.draft_note = f"draft model {self.draft.name} off on {self.device}: {cost.describe()}"
            else:
                self.draft_note = f"draft model {self.draft.name} on: {cost.describe()}"
            log.info("%s", self.draft_note)
        self._greedy = whisper_decode.GreedyWhisper(self._whisper, draft_model, maps, settings)

    def _load(self, model: ResolvedModel) -> Any:
        cls = _load_fitted_model_class()
        try:
            whisper = cls(
                str(model.path),
                device=self.device,
                compute_type=resolve_compute_type(self.device, self.compute_type),
                cpu_threads=self.cpu_threads,
                num_workers=self.workers,
            )
        except (RuntimeError, ValueError, OSError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ModelError(f"could not load model '{model.name}' on {self.device}: {first}") from None
        whisper.margin_frames = DEFAULT_MARGIN_FRAMES if self.fit_windows else None
        return whisper

    @property
    def whisper(self) -> Any:
        """The underlying ``faster_whisper.WhisperModel``."""
        return self._whisper

    def detect_language(self, samples: npt.NDArray[np.float32]) -> tuple[str, float]:
        """Most likely language of the first 30 s of ``samples`` (float32 ``(n,)``, 16 kHz)."""
        if not self.multilingual:
            return "en", 1.0
        language, probability, _ = self._whisper.detect_language(audio=samples[: 30 * SAMPLE_RATE])
        return str(language), float(probability)

    def max_new_tokens(self, duration_s: float, prompt: str | None) -> int:
        """Most tokens a window of ``duration_s`` seconds may produce after ``prompt``."""
        max_length = int(self._whisper.max_length)
        prompt_tokens = 0
        if prompt:
            ids = self._whisper.hf_tokenizer.encode(" " + prompt.strip(), add_special_tokens=False).ids
            prompt_tokens = min(len(ids), max_length // 2 - 1)
        budget = TOKENS_BASE + math.ceil(TOKENS_PER_SECOND * duration_s)
        return max(1, min(budget, max_length - prompt_tokens - _PROMPT_OVERHEAD))

    @property
    def speculative(self) -> bool:
        """Whether greedy windows run on the step decoder (hypothesis and model drafts)."""
        return self._greedy is not None

    def transcribe(
        self,
        samples: npt.NDArray[np.float32],
        offset_s: float,
        options: DecodeOptions,
        hypothesis: str | None = None,
        stats: SpeculativeStats | None = None,
    ) -> list[AsrSegment]:
        """Decode one window (float32 ``(n,)``, 16 kHz, <= 30 s) with word timestamps.

        Greedy windows (``beam_size`` 1) run on the step decoder, verifying
        ``hypothesis`` and draft-model tokens in batches; when the temperature-0 result
        trips a fallback check, the later temperatures run on faster-whisper's path.
        """
        temperatures = list(options.temperatures)
        prompt_text = options.initial_prompt
        max_new = self.max_new_tokens(samples.size / SAMPLE_RATE, prompt_text)
        if self._greedy is not None and options.beam_size == 1 and temperatures and temperatures[0] == 0.0:
            language = options.language if self.multilingual else "en"
            decode = replace(options, language=language or self.detect_language(samples)[0])
            segments, passed = self._greedy.decode(samples, offset_s, decode, max_new, hypothesis, stats)
            if passed or len(temperatures) == 1:
                return list(segments)
            temperatures = temperatures[1:]
        return self._faster_whisper(samples, offset_s, options, temperatures, max_new)

    def _faster_whisper(
        self,
        samples: npt.NDArray[np.float32],
        offset_s: float,
        options: DecodeOptions,
        temperatures: list[float],
        max_new_tokens: int,
    ) -> list[AsrSegment]:
        duration_s = samples.size / SAMPLE_RATE
        window_end = offset_s + duration_s
        import ctranslate2

        ctranslate2.set_random_seed(options.seed)  # temperature fallback samples: same input, same text
        segments, _info = self._whisper.transcribe(
            samples,
            language=options.language if self.multilingual else "en",
            task=options.task,
            beam_size=options.beam_size,
            temperature=temperatures,
            compression_ratio_threshold=options.compression_ratio_threshold,
            log_prob_threshold=options.log_prob_threshold,
            no_speech_threshold=options.no_speech_threshold,
            condition_on_previous_text=False,
            initial_prompt=options.initial_prompt,
            word_timestamps=True,
            vad_filter=False,
            max_new_tokens=max_new_tokens,
        )
        out: list[AsrSegment] = []
        for seg in segments:
            words = tuple(
                Word(
                    start_s=clamp(offset_s + w.start, offset_s, window_end),
                    end_s=clamp(offset_s + w.end, offset_s, window_end),
                    text=w.word,
                    probability=float(w.probability),
                )
                for w in seg.words or ()
                if w.word.strip()
            )
            if not words:
                continue
            out.append(
                AsrSegment(
                    start_s=words[0].start_s,
                    end_s=words[-1].end_s,
                    text=seg.text.strip(),
                    words=words,
                    avg_logprob=float(seg.avg_logprob),
                    no_speech_prob=float(seg.no_speech_prob),
                    compression_ratio=float(seg.compression_ratio),
                    tokens=tuple(seg.tokens),
                )
            )
        return out


def clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def language_codes() -> tuple[str, ...]:
    """Language codes Whisper knows (``en``, ``de``, ``yue``...)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return tuple(_LANGUAGE_CODES)


def resolve_compute_type(device: str, compute_type: str) -> str:
    """``default`` becomes int8 on CPU and float16 on CUDA; anything else passes through."""
    if compute_type != "default":
        return compute_type
    if device == "cpu":
        return "int8"
    if device == "cuda":
        return "float16"
    return "auto"
