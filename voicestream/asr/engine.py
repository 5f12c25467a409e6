"""Whisper on faster-whisper / CTranslate2: the engine, and how it is loaded."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from voicestream.asr.base import AsrSegment, DecodeOptions, default_cpu_threads, resolve_compute_type, timed_words
from voicestream.asr.frames import DEFAULT_MARGIN_FRAMES, fitted_model_class
from voicestream.asr.speculative import DraftSettings
from voicestream.asr.vocabulary import heard_speech, only_vocabulary
from voicestream.errors import ModelError
from voicestream.timebase import SAMPLE_RATE

if TYPE_CHECKING:
    from voicestream.asr.draft_cost import DraftCost
    from voicestream.asr.speculative import SpeculativeStats
    from voicestream.asr.step_decoder import GreedyWhisper
    from voicestream.catalog import ResolvedModel

log = logging.getLogger(__name__)

DraftPolicy = Literal["auto", "always"]
"""``auto``: draft with the draft model only where the decoder costs measured at load time
predict a speed-up (on a GPU, not on a small CPU); ``always``: draft regardless."""

TOKENS_PER_SECOND = 12
"""Token budget per second of window: fast speech needs about 7 (CJK up to ~10), so
more than this is a decoding loop; bounding it keeps a looping window from costing
seconds of fallback decodes (seen here: 13 s on a 0.9 s one-word window)."""
TOKENS_BASE = 16
"""Tokens allowed on top of the per-second budget (timestamps, punctuation)."""
_PROMPT_OVERHEAD = 8  # sot_prev, sot, language, task, timestamps and slack


@dataclass
class FasterWhisperEngine:
    """Whisper on faster-whisper/CTranslate2; :meth:`load` builds one from model folders.

    Attributes:
        whisper_model: The loaded ``faster_whisper.WhisperModel`` (encoder windows fitted
            to the audio unless its ``margin_frames`` is ``None``).
        name: The model's name.
        multilingual: Whether the model knows languages other than English (and can translate).
        greedy: The step decoder of greedy windows (exact, able to verify hypothesis and
            draft-model drafts), or ``None`` for faster-whisper's own greedy path.
        draft_note: What was decided about the draft model, and why (empty without one).
        draft_cost: The decoder costs that decision was made on.
    """

    whisper_model: Any
    name: str
    multilingual: bool
    greedy: GreedyWhisper | None = None
    draft_note: str = ""
    draft_cost: DraftCost | None = None

    @classmethod
    def load(
        cls,
        model: ResolvedModel,
        device: str = "cpu",
        compute_type: str = "default",
        fit_windows: bool = True,
        cpu_threads: int | None = None,
        workers: int = 1,
        draft: ResolvedModel | None = None,
        draft_settings: DraftSettings | None = None,
        draft_policy: DraftPolicy = "auto",
        step_decoding: bool = True,
    ) -> FasterWhisperEngine:
        """Load ``model`` (and the ``draft`` model of speculative decoding).

        Args:
            device: ``cpu``, ``cuda`` or ``auto``.
            compute_type: CTranslate2 compute type (``int8``, ``float16``, ``default``...).
            fit_windows: Encode only the frames that hold audio instead of padding to 30 s.
            cpu_threads: CTranslate2 threads per worker on CPU (default: every core).
            workers: Concurrent decodes the model accepts (one per calling thread).
            draft_settings: Adaptive K of the draft model (``None``: defaults).
            draft_policy: See :data:`DraftPolicy`.
            step_decoding: Decode greedy windows on the decoder-state API; ``False`` uses
                faster-whisper's own greedy path.

        Raises:
            ModelError: a model cannot be loaded, or drafting needs the step API.
        """
        from voicestream.asr import draft_cost, step_decoder  # CTranslate2 (native; loads PyTorch when installed)

        if draft is not None and not step_decoder.STEP_API:
            raise ModelError(step_decoder.STEP_API_MISSING)
        threads = cpu_threads or default_cpu_threads()

        def load_one(resolved: ResolvedModel) -> Any:
            try:
                whisper = fitted_model_class()(
                    str(resolved.path), device=device, compute_type=resolve_compute_type(device, compute_type),
                    cpu_threads=threads, num_workers=workers,
                )  # fmt: skip
            except (RuntimeError, ValueError, OSError) as e:
                first = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise ModelError(f"could not load model '{resolved.name}' on {device}: {first}") from None
            whisper.margin_frames = DEFAULT_MARGIN_FRAMES if fit_windows else None
            return whisper

        main = load_one(model)
        multilingual = bool(main.model.is_multilingual)
        if not (step_decoding and step_decoder.STEP_API):
            return cls(main, model.name, multilingual)
        settings = draft_settings or DraftSettings()
        if draft is None:
            return cls(main, model.name, multilingual, step_decoder.GreedyWhisper(main, None, None, settings))
        same = draft.path.resolve() == model.path.resolve()
        draft_model = main if same else load_one(draft)
        key = (str(model.path.resolve()), str(draft.path.resolve()))
        maps = None if same else step_decoder.token_maps(main, draft_model, key)
        cost = draft_cost.measure_draft_cost(main, draft_model, max(1, settings.num_tokens))
        if draft_policy == "auto" and cost.speedup < 1.0:
            draft_model, maps = None, None
            note = f"draft model {draft.name} off on {device}: {cost.describe()}"
        else:
            note = f"draft model {draft.name} on: {cost.describe()}"
        log.info("%s", note)
        greedy = step_decoder.GreedyWhisper(main, draft_model, maps, settings)
        return cls(main, model.name, multilingual, greedy, note, cost)

    @property
    def whisper(self) -> Any:
        """The underlying ``faster_whisper.WhisperModel``."""
        return self.whisper_model

    def detect_language(self, samples: npt.NDArray[np.float32]) -> tuple[str, float]:
        """Most likely language of the first 30 s of ``samples`` (float32 ``(n,)``, 16 kHz)."""
        if not self.multilingual:
            return "en", 1.0
        if self.greedy is not None:  # the decode that follows reuses its encoder output
            return self.greedy.detect_language(samples)
        language, probability, _ = self.whisper_model.detect_language(audio=samples[: 30 * SAMPLE_RATE])
        return str(language), float(probability)

    def max_new_tokens(self, duration_s: float, prompt: str | None) -> int:
        """Most tokens a window of ``duration_s`` seconds may produce after ``prompt``."""
        max_length = int(self.whisper_model.max_length)
        prompt_tokens = 0
        if prompt:
            ids = self.whisper_model.hf_tokenizer.encode(" " + prompt.strip(), add_special_tokens=False).ids
            prompt_tokens = min(len(ids), max_length // 2 - 1)
        budget = TOKENS_BASE + math.ceil(TOKENS_PER_SECOND * duration_s)
        return max(1, min(budget, max_length - prompt_tokens - _PROMPT_OVERHEAD))

    @property
    def speculative(self) -> bool:
        """Whether greedy windows run on the step decoder (hypothesis and model drafts)."""
        return self.greedy is not None

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
        trips a fallback check, the later temperatures are sampled there too, seeded per
        window (:mod:`voicestream.asr.sampling`). Beam windows run on faster-whisper.
        """
        segments = self._decode(samples, offset_s, options, hypothesis, stats)
        if options.hotwords and only_vocabulary(" ".join(s.text for s in segments), options.hotwords):
            # text that only repeats the vocabulary stands if the window holds speech without it too
            plain = self._decode(samples, offset_s, replace(options, hotwords=None), None, None)
            return segments if heard_speech(plain, options.no_speech_threshold) else []
        return segments

    def _decode(
        self,
        samples: npt.NDArray[np.float32],
        offset_s: float,
        options: DecodeOptions,
        hypothesis: str | None,
        stats: SpeculativeStats | None,
    ) -> list[AsrSegment]:
        temperatures = list(options.temperatures)
        prompt_text = " ".join(t for t in (options.hotwords, options.initial_prompt) if t) or None
        max_new = self.max_new_tokens(samples.size / SAMPLE_RATE, prompt_text)
        if self.greedy is not None and options.beam_size == 1 and temperatures and temperatures[0] == 0.0:
            language = options.language if self.multilingual else "en"
            decode = replace(options, language=language or self.detect_language(samples)[0])
            return self.greedy.decode(samples, offset_s, decode, max_new, hypothesis, stats)
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
        import ctranslate2  # CTranslate2 (native): imported when a model is used

        # Seeds each CTranslate2 thread's sampler when it first samples: a process's runs
        # repeat in order, but a fallback's samples depend on those drawn before it in that
        # thread (CTranslate2 has no per-call seed), so the same audio may read differently.
        ctranslate2.set_random_seed(options.seed)
        segments, _info = self.whisper_model.transcribe(
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
            hotwords=options.hotwords,
            word_timestamps=True,
            vad_filter=False,
            max_new_tokens=max_new_tokens,
        )
        out: list[AsrSegment] = []
        for seg in segments:
            raw = ((w.start, w.end, w.word, w.probability) for w in seg.words or ())
            words = tuple(timed_words(raw, offset_s, duration_s))
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
