"""Exact speculative greedy decoding: drafts proposed cheaply, verified by the main model.

Greedy decoding feeds the main decoder one token per pass. Speculation proposes
several next tokens at once (from a small draft model, or from the previous
streaming hypothesis), feeds them to the main decoder in one batched pass, keeps the
prefix whose tokens equal the main model's own argmax at every position, and rolls
the decoder state back at the first disagreement. The kept tokens are the ones
plain greedy decoding picks, so the text does not change; only the number of
sequential decoder passes does.

Everything here is model-free: the decoder and drafters are small protocols, so the
policy is unit-tested with fakes and run for real through ``voicestream.asr.step_decoder``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from voicestream.messages import SpeculativeCounts


@dataclass
class SpeculativeStats:
    """Counters of one file or one live session (mutable accumulator).

    Attributes:
        drafted: Draft tokens proposed for verification.
        accepted: Draft tokens the main model confirmed.
        verify_passes: Batched verification passes of the main decoder.
        hypothesis_drafted: Part of ``drafted`` that came from the previous hypothesis.
        hypothesis_accepted: Part of ``accepted`` that came from the previous hypothesis.
    """

    drafted: int = 0
    accepted: int = 0
    verify_passes: int = 0
    hypothesis_drafted: int = 0
    hypothesis_accepted: int = 0

    @property
    def acceptance_rate(self) -> float:
        """Accepted / drafted (0 when nothing was drafted)."""
        return self.accepted / self.drafted if self.drafted else 0.0

    def add(self, other: SpeculativeStats) -> None:
        """Add ``other``'s counts to these."""
        self.drafted += other.drafted
        self.accepted += other.accepted
        self.verify_passes += other.verify_passes
        self.hypothesis_drafted += other.hypothesis_drafted
        self.hypothesis_accepted += other.hypothesis_accepted

    def snapshot(self) -> SpeculativeCounts:
        """The counts now, frozen (for a transcript or an event)."""
        return SpeculativeCounts(
            self.drafted, self.accepted, self.verify_passes, self.hypothesis_drafted, self.hypothesis_accepted
        )


@dataclass(frozen=True, slots=True)
class DraftSettings:
    """How many tokens a draft model proposes per verification pass (adaptive K).

    Attributes:
        num_tokens: K at the start of each window.
        min_tokens: Lower bound of the adaptive K (0 lets the draft model go silent).
        max_tokens: Upper bound; K grows by one after a fully accepted pass and shrinks
            by one after any rejection. Equal bounds keep K fixed.
        hypothesis_tokens: Most tokens of the previous hypothesis verified in one pass.
        hypothesis_probe: Tokens of the hypothesis verified in the pass after one it got
            wrong (a cheap probe; a fully accepted probe restores ``hypothesis_tokens``).
    """

    num_tokens: int = 4
    min_tokens: int = 1
    max_tokens: int = 8
    hypothesis_tokens: int = 96
    hypothesis_probe: int = 4

    def __post_init__(self) -> None:
        if not 0 <= self.min_tokens <= self.num_tokens <= self.max_tokens:
            raise ValueError("draft tokens need 0 <= min <= num <= max")


class StepDecoder(Protocol):
    """The main model's decoder after its prompt, fed token by token or in batches.

    Logits rows are float32 ``(vocab,)``; row ``i`` of a batch predicts the token after
    the ``i``-th fed token.
    """

    def first_logits(self) -> npt.NDArray[np.float32]:
        """Logits of the first generated position (after the whole prompt)."""
        ...

    def feed(self, tokens: Sequence[int]) -> npt.NDArray[np.float32]:
        """Feed ``tokens`` in one pass; logits ``(len(tokens), vocab)``."""
        ...

    def truncate(self, generated: int) -> None:
        """Forget every fed token after the first ``generated`` generated ones."""
        ...


DraftSource = Literal["hypothesis", "model"]
"""Who drafts: the previous streaming update's hypothesis, or a draft model."""


class Drafter(Protocol):
    """Proposes the tokens most likely to follow ``history`` (main-vocabulary ids)."""

    source: DraftSource

    def propose(self, history: Sequence[int], k: int) -> list[int]:
        """Up to ``k`` tokens after ``history`` (every generated token so far, the last
        one already decided but not yet fed to the main decoder); may be empty."""
        ...


@dataclass(frozen=True, slots=True)
class GreedyResult:
    """Tokens of one greedy decode.

    Attributes:
        tokens: Generated token ids, without the end-of-text token.
        logprobs: Log-probability of each generated token, then of the end-of-text
            token when ``finished``.
        finished: Decoding stopped on end-of-text (not on the token budget).
    """

    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]
    finished: bool


class HypothesisDrafter:
    """Drafts from a known token sequence, e.g. the previous streaming hypothesis.

    Tracks where the decode stands in ``hypothesis`` and proposes the rest of it. When
    the decode picks a different token, it looks for that token up to ``skip`` tokens
    ahead (words dropped), then re-anchors on the last ``anchor`` generated tokens
    (words inserted), else assumes a substitution, skips one hypothesis token and drafts
    again once the next token confirms the guess, so a changed word costs one rejected
    pass and a step, not the rest of the draft. End the hypothesis
    with the end-of-text token to draft it too.
    """

    source: DraftSource = "hypothesis"

    def __init__(self, hypothesis: Sequence[int], max_tokens: int = 96, anchor: int = 2, skip: int = 3) -> None:
        self._hyp = list(hypothesis)
        self._max = max_tokens
        self._anchor = anchor
        self._skip = skip
        self._pos = 0  # index in _hyp of the token expected next
        self._seen = 0  # history tokens already followed
        self._sure = True  # the last history token was found in the hypothesis

    def propose(self, history: Sequence[int], k: int) -> list[int]:
        """Continuation of the hypothesis after ``history``; ``k`` is ignored (verifying is cheap)."""
        if len(history) < self._seen:  # a new decode: start over
            self._pos = self._seen = 0
        for i in range(self._seen, len(history)):
            token = history[i]
            guessed, self._sure = not self._sure, True
            if self._pos < len(self._hyp) and self._hyp[self._pos] == token:
                self._pos += 1
            elif guessed and 0 < self._pos <= len(self._hyp) and self._hyp[self._pos - 1] == token:
                pass  # not a substitution after all: a word was inserted before the skipped token
            elif token in self._hyp[self._pos + 1 : self._pos + 1 + self._skip]:  # words dropped
                self._pos = self._hyp.index(token, self._pos + 1) + 1
            else:
                found = self._find(history[max(0, i + 1 - self._anchor) : i + 1])
                self._sure = found is not None
                self._pos = found if found is not None else self._pos + 1
        self._seen = len(history)
        # After a guess (substitution), wait for one token to confirm it: a wrong guess
        # would cost a batched pass, dearer than the single step that confirms it.
        return self._hyp[self._pos : self._pos + self._max] if self._sure else []

    def _find(self, tail: Sequence[int]) -> int | None:
        """Index after the occurrence of ``tail`` in the hypothesis nearest the current position."""
        m = len(tail)
        ends = [i + m for i in range(len(self._hyp) - m + 1) if self._hyp[i : i + m] == list(tail)]
        if not ends:
            return None
        return min(ends, key=lambda e: (e < self._pos, abs(e - self._pos)))


def log_softmax(row: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Log-probabilities of a logits row (``-inf`` entries stay ``-inf``)."""
    x: npt.NDArray[np.float64] = row.astype(np.float64)
    top = float(np.max(x))
    shift = top + float(np.log(np.sum(np.exp(x - top))))
    return x - shift


def _argmax(rows: npt.NDArray[np.float32], banned: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float32], list[int]]:
    """Rows ``(n, vocab)`` with ``banned`` masked, and each row's argmax."""
    masked = np.array(rows, dtype=np.float32, copy=True, ndmin=2)
    masked[:, banned] = -np.inf
    return masked, [int(t) for t in masked.argmax(axis=1)]


def _logprob(masked: npt.NDArray[np.float32], token: int) -> float:
    top = float(masked.max())
    return float(masked[token]) - top - float(np.log(np.sum(np.exp(masked - top))))


def greedy_decode(
    decoder: StepDecoder,
    *,
    eot: int,
    suppress: Sequence[int],
    first_suppress: Sequence[int],
    max_new_tokens: int,
    drafters: Sequence[Drafter] = (),
    settings: DraftSettings | None = None,
    stats: SpeculativeStats | None = None,
) -> GreedyResult:
    """Greedy decoding with optional speculation; the same tokens as plain greedy.

    Args:
        decoder: The main decoder, already prefilled with the prompt.
        eot: End-of-text token id.
        suppress: Token ids never generated.
        first_suppress: Extra ids banned at the first position (blank, end-of-text).
        max_new_tokens: Token budget, end-of-text included.
        drafters: Tried in order each pass; the first non-empty proposal is verified.
            Drafters whose ``source`` is ``"model"`` follow the adaptive K of ``settings``;
            others propose up to ``hypothesis_tokens``, or ``hypothesis_probe`` after a miss.
        settings: Adaptive K bounds.
        stats: Accumulates drafted/accepted/verify-pass counts.
    """
    settings = settings or DraftSettings()
    banned = np.asarray(sorted(set(suppress)), dtype=np.int64)
    first_banned = np.asarray(sorted(set(suppress) | set(first_suppress)), dtype=np.int64)
    masked, picks = _argmax(decoder.first_logits(), first_banned)
    nxt, lp = picks[0], _logprob(masked[0], picks[0])
    out: list[int] = []
    logprobs: list[float] = []
    k_model = settings.num_tokens
    k_hypothesis = settings.hypothesis_tokens
    while nxt != eot and len(out) + 1 < max_new_tokens:
        room = max_new_tokens - len(out) - 2  # tokens that may follow nxt within the budget
        draft: list[int] = []
        source: DraftSource | None = None
        for drafter in drafters:
            k = k_model if drafter.source == "model" else k_hypothesis
            if k <= 0 or room <= 0:
                continue
            draft = drafter.propose([*out, nxt], min(k, room))[: min(k, room)]
            if draft:
                source = drafter.source
                break
        masked, picks = _argmax(decoder.feed([nxt, *draft]), banned)
        out.append(nxt)
        logprobs.append(lp)
        nxt, lp = picks[0], _logprob(masked[0], picks[0])
        accepted = 0
        for j, token in enumerate(draft):
            if token != nxt:
                break
            accepted += 1
            if token == eot:
                break
            out.append(token)
            logprobs.append(lp)
            nxt, lp = picks[j + 1], _logprob(masked[j + 1], picks[j + 1])
        if draft:
            if accepted < len(draft):
                decoder.truncate(len(out))
            if stats is not None:
                stats.drafted += len(draft)
                stats.accepted += accepted
                stats.verify_passes += 1
                if source == "hypothesis":
                    stats.hypothesis_drafted += len(draft)
                    stats.hypothesis_accepted += accepted
            grow = accepted == len(draft)
            if source == "model":
                k_model = min(settings.max_tokens, k_model + 1) if grow else max(settings.min_tokens, k_model - 1)
            else:
                k_hypothesis = settings.hypothesis_tokens if grow else settings.hypothesis_probe
    finished = nxt == eot
    if finished:
        logprobs.append(lp)
    elif len(out) < max_new_tokens:
        out.append(nxt)  # the budget's last token: decided, never fed
        logprobs.append(lp)
    return GreedyResult(tuple(out), tuple(logprobs), finished)


def expected_speedup(main_step_s: float, draft_step_s: float, verify_s: float, k: int, acceptance: float) -> float:
    """Decoder speed-up of draft-model speculation over plain greedy decoding.

    Each round drafts ``k`` tokens (``k`` draft steps) and verifies them in one main
    pass of ``k + 1`` tokens (``verify_s``); with per-token acceptance ``acceptance`` it
    yields ``(1 - a^(k+1)) / (1 - a)`` tokens, which plain decoding makes in as many
    main steps. Above 1 speculation pays; on a CPU, where a small decoder step costs
    most of a big one, it does not.
    """
    a = min(max(acceptance, 0.0), 0.999)
    tokens = (1 - a ** (k + 1)) / (1 - a)
    return tokens * main_step_s / (k * draft_step_s + verify_s)


@dataclass(frozen=True, slots=True)
class TokenMaps:
    """Id tables between a draft and a main vocabulary (-1 where a token has no twin).

    Attributes:
        d2m: int64 ``(draft_vocab,)``: draft id -> main id.
        m2d: int64 ``(main_vocab,)``: main id -> draft id.
    """

    d2m: npt.NDArray[np.int64]
    m2d: npt.NDArray[np.int64]

    @property
    def mapped(self) -> int:
        """Draft ids with a main twin."""
        return int(np.count_nonzero(self.d2m >= 0))


def build_token_maps(main_vocab: dict[str, int], draft_vocab: dict[str, int]) -> TokenMaps:
    """Match tokens by their byte-level string (``tokenizer.get_vocab()`` of both models)."""
    d2m = np.full(max(draft_vocab.values(), default=-1) + 1, -1, dtype=np.int64)
    m2d = np.full(max(main_vocab.values(), default=-1) + 1, -1, dtype=np.int64)
    for text, draft_id in draft_vocab.items():
        main_id = main_vocab.get(text)
        if main_id is not None:
            d2m[draft_id] = main_id
            m2d[main_id] = draft_id
    return TokenMaps(d2m, m2d)
