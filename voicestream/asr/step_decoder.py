"""Greedy Whisper decoding on CTranslate2's step API, with draft-model and hypothesis drafts.

Needs the ``ctranslate2-crisperwhisper`` build (``prefill``, ``forward_batch``,
``forward_step``, ``truncate_to_step``); :data:`STEP_API` says whether it is installed.
Windows are decoded without timestamp tokens; words are timed afterwards by
cross-attention alignment (faster-whisper's ``add_word_timestamps``), as in the
beam-search path.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from voicestream.asr.base import AsrSegment, DecodeOptions, timed_words
from voicestream.asr.frames import FULL_WINDOW_FRAMES, fitted_frames
from voicestream.asr.sampling import BEST_OF, Attempt, best_sample, fallback_choice, generator, sample_decode
from voicestream.asr.speculative import (
    Drafter,
    DraftSettings,
    DraftSource,
    GreedyResult,
    HypothesisDrafter,
    SpeculativeStats,
    TokenMaps,
    build_token_maps,
    greedy_decode,
    log_softmax,
)
from voicestream.messages import Word
from voicestream.timebase import SAMPLE_RATE


def _has_step_api() -> bool:
    try:
        import ctranslate2  # CTranslate2 (native): imported when a model is used
    except ImportError:
        return False
    whisper = ctranslate2.models.Whisper
    state = getattr(ctranslate2.models, "WhisperDecoderState", None)
    needed = ("prefill", "forward_batch", "forward_step", "forward_batch_greedy", "forward_step_greedy")
    return state is not None and hasattr(state, "truncate_to_step") and all(hasattr(whisper, n) for n in needed)


STEP_API = _has_step_api()
"""Whether the installed CTranslate2 has the decoder-state API speculation needs."""
STEP_API_MISSING = (
    "speculative decoding needs the ctranslate2-crisperwhisper build of CTranslate2 "
    "(prefill/forward_batch/truncate_to_step); the installed ctranslate2 is upstream. "
    "Install voicestream with uv as the README says, or run without --draft-model"
)


class Ct2Decoder:
    """The main model's decoder state for one window (a :class:`~voicestream.asr.speculative.StepDecoder`).

    The whole prompt is prefilled in one pass, as CTranslate2's ``generate`` does. The
    no-speech probability (read at the start-of-transcript position) costs a second
    prefill, so it is computed only when asked for.
    """

    def __init__(self, model: Any, encoder_output: Any, prompt: Sequence[int], sot_index: int, no_speech: int) -> None:
        self._model = model
        self._encoder_output = encoder_output
        self._prompt = list(prompt)
        self._sot_index = sot_index
        self._no_speech = no_speech
        state, logits = model.prefill(encoder_output, self._prompt)
        self._state = state
        self._first = np.asarray(logits, dtype=np.float32).reshape(-1)

    def no_speech_prob(self) -> float:
        """Probability of the no-speech token at the start-of-transcript position."""
        _state, logits = self._model.prefill(self._encoder_output, self._prompt[: self._sot_index + 1])
        row = np.asarray(logits, dtype=np.float32).reshape(-1)
        return float(np.exp(log_softmax(row)[self._no_speech]))

    def first_logits(self) -> npt.NDArray[np.float32]:
        return self._first

    def feed(self, tokens: Sequence[int]) -> npt.NDArray[np.float32]:
        if len(tokens) == 1:  # the single-token kernel: what plain greedy decoding runs
            logits = self._model.forward_step(self._state, int(tokens[0]))
        else:
            logits = self._model.forward_batch(self._state, list(tokens))
        rows = np.asarray(logits, dtype=np.float32)
        return rows.reshape(len(tokens), rows.shape[-1])

    def truncate(self, generated: int) -> None:
        self._state.truncate_to_step(len(self._prompt) + generated)


class LazyDrafter:
    """A drafter built on its first proposal (a draft model's encoder pass is not free)."""

    source: DraftSource = "model"

    def __init__(self, build: Callable[[], Drafter]) -> None:
        self._build: Callable[[], Drafter] | None = build
        self._drafter: Drafter | None = None

    def propose(self, history: Sequence[int], k: int) -> list[int]:
        if self._drafter is None and self._build is not None:
            self._drafter, self._build = self._build(), None
        return self._drafter.propose(history, k) if self._drafter is not None else []


class ModelDrafter:
    """A small Whisper proposing tokens greedily from its own encoder output and vocabulary.

    Main tokens without a twin in the draft vocabulary are fed as their text
    re-tokenized by ``retokenize``; draft tokens without a main twin end a proposal.
    """

    source: DraftSource = "model"

    def __init__(
        self,
        model: Any,
        encoder_output: Any,
        prompt: Sequence[int],
        maps: TokenMaps,
        suppress: Sequence[int],
        retokenize: Callable[[int], list[int]],
        eot: int,
    ) -> None:
        self._model = model
        self._eot = eot
        self._maps = maps
        self._suppress = list(suppress)
        self._retokenize = retokenize
        state, logits = model.prefill(encoder_output, list(prompt))
        self._state = state
        self._prompt_len = len(prompt)
        row = np.asarray(logits, dtype=np.float32).reshape(-1).copy()
        row[self._suppress] = -np.inf
        self._pred: int | None = int(np.argmax(row))  # draft id predicted after _fed
        self._fed: list[int] = []  # main ids fed after the prompt
        self._steps: list[int] = []  # draft decoder steps after the prompt, through each fed token
        self._dead = False

    def _draft_ids(self, token: int) -> list[int]:
        twin = int(self._maps.m2d[token]) if token < self._maps.m2d.size else -1
        return [twin] if twin >= 0 else self._retokenize(token)

    def _rewind(self, keep: int) -> None:
        """Keep the first ``keep`` fed main tokens."""
        self._state.truncate_to_step(self._prompt_len + (self._steps[keep - 1] if keep else 0))
        del self._fed[keep:]
        del self._steps[keep:]
        self._pred = None

    def propose(self, history: Sequence[int], k: int) -> list[int]:
        if self._dead:
            return []
        common = 0
        for a, b in zip(self._fed, history, strict=False):
            if a != b:
                break
            common += 1
        if common == len(history) and common > 0:
            common -= 1  # the prediction after history is needed: refeed its last token
        if common < len(self._fed):
            self._rewind(common)
        todo: list[int] = []
        for token in history[common:]:
            ids = self._draft_ids(token)
            if not ids:
                self._dead = True  # the draft vocabulary cannot spell this text
                return []
            todo.extend(ids)
            self._fed.append(token)
            self._steps.append((self._steps[-1] if self._steps else 0) + len(ids))
        if todo:
            self._pred = int(self._model.forward_batch_greedy(self._state, todo, self._suppress)[-1])
        out: list[int] = []
        pred = self._pred
        while pred is not None and len(out) < k:
            main_id = int(self._maps.d2m[pred]) if pred < self._maps.d2m.size else -1
            if main_id < 0:
                break
            out.append(main_id)
            if len(out) >= k or main_id == self._eot:
                break
            pred = int(self._model.forward_step_greedy(self._state, pred, self._suppress))
            self._fed.append(main_id)
            self._steps.append((self._steps[-1] if self._steps else 0) + 1)
        self._pred = pred
        return out


_MAPS: dict[tuple[str, str], TokenMaps] = {}
EncodeKey = tuple[int, int | None, int | None, int, bytes]
"""What an encoder output depends on: the model (id), the margin asked for and the model's
own, the sample count and a digest of the samples."""


def token_maps(main: Any, draft: Any, key: tuple[str, str]) -> TokenMaps:
    """``d2m``/``m2d`` tables of two loaded models' tokenizers, built once per ``key``
    (the two model directories) and process."""
    if key not in _MAPS:
        vocab = {
            name: m.hf_tokenizer.get_vocab(with_added_tokens=True) for name, m in (("main", main), ("draft", draft))
        }
        _MAPS[key] = build_token_maps(vocab["main"], vocab["draft"])
    return _MAPS[key]


@dataclass
class GreedyWhisper:
    """Greedy decoding of one window on a faster-whisper model, optionally speculative.

    Attributes:
        whisper: The main ``faster_whisper.WhisperModel``.
        draft: A second ``WhisperModel`` proposing tokens, or ``None``.
        maps: Token tables between ``draft`` and ``whisper`` (identity when ``None``).
        settings: Adaptive K bounds.
    """

    whisper: Any
    draft: Any = None
    maps: TokenMaps | None = None
    settings: DraftSettings = field(default_factory=DraftSettings)
    _last: threading.local = field(default_factory=threading.local, init=False, repr=False, compare=False)

    def tokenizer(self, model: Any, options: DecodeOptions) -> Any:
        from faster_whisper.tokenizer import (
            Tokenizer,  # faster-whisper loads CTranslate2: imported when a model is used
        )

        multilingual = bool(model.model.is_multilingual)
        language = (options.language or "en") if multilingual else "en"
        return Tokenizer(model.hf_tokenizer, multilingual, task=options.task, language=language)

    def _prompt(self, model: Any, tokenizer: Any, previous: str | None, hotwords: str | None = None) -> list[int]:
        ids = tokenizer.encode(" " + previous.strip()) if previous and previous.strip() else []
        return list(model.get_prompt(tokenizer, ids, without_timestamps=True, hotwords=hotwords or None))

    def _encode(self, model: Any, samples: npt.NDArray[np.float32], margin: int | None = None) -> tuple[Any, int]:
        """The encoder output of ``samples`` and how many frames hold audio (the model fits
        the window to them, :mod:`voicestream.asr.frames`, with ``margin`` frames of silence
        after them when given and the model fits windows).

        Each thread's last result is kept: a window whose language is detected
        (:meth:`detect_language`) and then decoded at the same margin, or decoded twice, is
        encoded once.
        """
        contiguous = np.ascontiguousarray(samples)
        digest = hashlib.blake2b(contiguous.data, digest_size=16).digest()
        key: EncodeKey = (id(model), margin, getattr(model, "margin_frames", None), samples.size, digest)
        last: tuple[EncodeKey, tuple[Any, int]] | None = getattr(self._last, "entry", None)
        if last is not None and last[0] == key:
            return last[1]
        encoded = self._encode_window(model, contiguous, margin)
        self._last.entry = (key, encoded)
        return encoded

    @staticmethod
    def _encode_window(model: Any, samples: npt.NDArray[np.float32], margin: int | None) -> tuple[Any, int]:
        """:meth:`_encode` without the kept result."""
        features = model.feature_extractor(samples)
        content = min(features.shape[-1] - 1, FULL_WINDOW_FRAMES)
        frames = FULL_WINDOW_FRAMES
        if margin is not None and getattr(model, "margin_frames", None) is not None:
            frames = fitted_frames(content, FULL_WINDOW_FRAMES, margin)  # the model's fitting keeps it
        window = np.zeros((features.shape[0], frames), dtype=np.float32)
        window[:, :content] = features[:, :content]
        return model.encode(window), content

    def detect_language(self, samples: npt.NDArray[np.float32]) -> tuple[str, float]:
        """The most likely language of ``samples`` (float32 ``(n,)``, 16 kHz, the first
        30 s) and its probability, from the encoder output that a decode of the same samples
        at the model's own margin on this thread reuses."""
        encoder_output, _content = self._encode(self.whisper, samples[: 30 * SAMPLE_RATE])
        token, probability = self.whisper.model.detect_language(encoder_output)[0][0]
        return str(token)[2:-2], float(probability)

    def decode(
        self,
        samples: npt.NDArray[np.float32],
        offset_s: float,
        options: DecodeOptions,
        max_new_tokens: int,
        hypothesis: str | None = None,
        stats: SpeculativeStats | None = None,
    ) -> list[AsrSegment]:
        """Decode ``samples`` (float32 ``(n,)``, 16 kHz, <= 30 s) greedily at temperature 0
        (``options.temperatures[0]``), then, while the result fails the fallback checks, at
        each later temperature: the best of :data:`~voicestream.asr.sampling.BEST_OF`
        sequences sampled with a generator seeded by ``options.seed`` alone, so that the
        same window always reads the same (:mod:`voicestream.asr.sampling`).

        Returns the segments, times in seconds from ``offset_s``: none for silence.
        """
        from faster_whisper.transcribe import (  # faster-whisper loads CTranslate2: imported when a model is used
            get_compression_ratio,
            get_suppressed_tokens,
        )

        wm = self.whisper
        tok = self.tokenizer(wm, options)
        encoder_output, content = self._encode(wm, samples, options.margin_frames)
        prompt = self._prompt(wm, tok, options.initial_prompt, options.hotwords)
        decoder = Ct2Decoder(wm.model, encoder_output, prompt, prompt.index(tok.sot), tok.no_speech)
        suppress = list(get_suppressed_tokens(tok, [-1]))
        first_suppress = [*tok.encode(" "), tok.eot]
        drafters: list[Drafter] = []
        if hypothesis and hypothesis.strip():
            draft = [*tok.encode(" " + hypothesis.strip()), tok.eot]
            drafters.append(HypothesisDrafter(draft, self.settings.hypothesis_tokens))
        if self.draft is not None:  # its encoder and prefill run only if the hypothesis runs out
            drafters.append(LazyDrafter(lambda: self._model_drafter(samples, options, encoder_output)))
        limit = options.compression_ratio_threshold

        def looping(tokens: Sequence[int]) -> bool:
            return limit is not None and get_compression_ratio(tok.decode(list(tokens)).strip()) > limit

        attempts: list[Attempt] = []
        no_speech = math.nan
        for temperature in options.temperatures or (0.0,):
            if temperature <= 0.0:
                result = greedy_decode(
                    decoder, eot=tok.eot, suppress=suppress, first_suppress=first_suppress,
                    max_new_tokens=max_new_tokens, drafters=drafters, settings=self.settings, stats=stats,
                )  # fmt: skip
            else:
                rng = generator(options.seed, temperature)
                result = best_sample([
                    sample_decode(
                        decoder, eot=tok.eot, suppress=suppress, first_suppress=first_suppress,
                        max_new_tokens=max_new_tokens, temperature=temperature, rng=rng, failed=looping,
                        drafter=HypothesisDrafter([*attempts[0].result.tokens, tok.eot]) if attempts else None,
                    )
                    for _ in range(BEST_OF)
                ])  # fmt: skip
            attempt = _attempt(tok, result, temperature)
            attempts.append(attempt)
            avg = attempt.avg_logprob
            # Only a doubtful decode can be silence (here and in the guards): others skip the cost.
            doubtful = options.log_prob_threshold is None or avg < max(options.log_prob_threshold, -1.0)
            if (doubtful or not result.tokens) and math.isnan(no_speech):
                no_speech = decoder.no_speech_prob()
            low = options.log_prob_threshold is not None and avg < options.log_prob_threshold
            if (
                options.no_speech_threshold is not None
                and no_speech > options.no_speech_threshold
                and (options.log_prob_threshold is None or low)
            ):
                return []  # silence
            if not (low or (limit is not None and attempt.compression_ratio > limit)):
                break
        else:
            attempt = fallback_choice(attempts, limit)
        tokens = list(attempt.result.tokens)
        words = self._words(tok, tokens, encoder_output, content, offset_s, samples.size / SAMPLE_RATE)
        if not words:
            return []
        segment = AsrSegment(
            start_s=words[0].start_s,
            end_s=words[-1].end_s,
            text=tok.decode(tokens).strip(),
            words=tuple(words),
            avg_logprob=attempt.avg_logprob,
            no_speech_prob=no_speech,
            compression_ratio=attempt.compression_ratio,
            tokens=tuple(tokens),
        )
        return [segment]

    def _model_drafter(self, samples: npt.NDArray[np.float32], options: DecodeOptions, main_output: Any) -> Drafter:
        from faster_whisper.transcribe import (
            get_suppressed_tokens,  # faster-whisper loads CTranslate2: imported when a model is used
        )

        draft = self.draft
        tok = self.tokenizer(draft, options)
        encoder_output = (
            main_output if draft is self.whisper else self._encode(draft, samples, options.margin_frames)[0]
        )
        prompt = self._prompt(draft, tok, options.initial_prompt, options.hotwords)
        maps = self.maps or _identity_maps(int(draft.hf_tokenizer.get_vocab_size()))
        main_hf, draft_hf = self.whisper.hf_tokenizer, draft.hf_tokenizer

        def retokenize(token: int) -> list[int]:
            text = main_hf.decode([token])
            ids = [] if "\ufffd" in text else draft_hf.encode(text, add_special_tokens=False).ids
            return [int(i) for i in ids]

        suppress = list(get_suppressed_tokens(tok, [-1]))
        return ModelDrafter(
            draft.model,
            encoder_output,
            prompt,
            maps,
            suppress,
            retokenize,
            self.whisper.hf_tokenizer.token_to_id("<|endoftext|>"),
        )

    def _words(
        self, tok: Any, tokens: list[int], encoder_output: Any, content: int, offset_s: float, duration_s: float
    ) -> list[Word]:
        if not tokens:
            return []
        wm = self.whisper
        end = content / wm.frames_per_second
        segments = [[{"seek": 0, "start": 0.0, "end": end, "tokens": tokens}]]
        wm.add_word_timestamps(segments, tok, encoder_output, content, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、", 0.0)
        raw = ((w["start"], w["end"], w["word"], w["probability"]) for w in segments[0][0].get("words", []))
        return timed_words(raw, offset_s, duration_s)


def _attempt(tok: Any, result: GreedyResult, temperature: float) -> Attempt:
    """``result`` with the measures the fallback checks read."""
    from faster_whisper.transcribe import (
        get_compression_ratio,  # faster-whisper loads CTranslate2: imported when a model is used
    )

    text = tok.decode(list(result.tokens)).strip()
    avg_logprob = sum(result.logprobs) / (len(result.tokens) + 1)
    return Attempt(result, temperature, avg_logprob, get_compression_ratio(text))


@cache
def _identity_maps(vocab: int) -> TokenMaps:
    ids = np.arange(vocab, dtype=np.int64)
    return TokenMaps(ids, ids)
