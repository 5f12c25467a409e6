"""Exact speculative greedy decoding: drafts proposed cheaply, verified by the main model.

Greedy decoding feeds the main decoder one token per pass. Speculation proposes
several next tokens at once (from a small draft model, or from the previous
streaming hypothesis), feeds them to the main decoder in one batched pass, keeps the
prefix whose tokens equal the main model's own argmax at every position, and rolls
the decoder state back at the first disagreement. The kept tokens are the ones
plain greedy decoding picks, so the text does not change; only the number of
sequential decoder passes does.

Everything here is model-free: the decoder and drafters are small protocols, so the
policy is unit-tested with fakes and run for real through ``voicestream.whisper_decode``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt


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

    def as_dict(self) -> dict[str, Any]:
        """The ``speculative`` object of JSON output and the ``done`` event."""
        return {
            "drafted": self.drafted,
            "accepted": self.accepted,
            "acceptance_rate": round(self.acceptance_rate, 4),
            "verify_passes": self.verify_passes,
            "hypothesis": {"drafted": self.hypothesis_drafted, "accepted": self.hypothesis_accepted},
        }


@dataclass(frozen=True, slots=True)
class DraftSettings:
    """How many tokens a draft model proposes per verification pass (adaptive K).

    Attributes:
        num_tokens: K at the start of each window.
        min_tokens: Lower bound of the adaptive K (0 lets the draft model go silent).
        max_tokens: Upper bound; K grows by one after a fully accepted pass and shrinks
            by one after any rejection. Equal bounds keep K fixed.
        hypothesis_tokens: Most tokens of the previous hypothesis verified in one pass.
    """

    num_tokens: int = 4
    min_tokens: int = 1
    max_tokens: int = 8
    hypothesis_tokens: int = 96

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


class Drafter(Protocol):
    """Proposes the tokens most likely to follow ``history`` (main-vocabulary ids)."""

    source: str

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

    Follows ``hypothesis`` while the decode agrees with it; after a divergence it
    re-anchors on the last ``anchor`` generated tokens (prompt-lookup style), so an
    inserted or dropped word costs one rejected pass, not the rest of the draft.
    """

    source = "hypothesis"

    def __init__(self, hypothesis: Sequence[int], max_tokens: int = 96, anchor: int = 2) -> None:
        self._hyp = list(hypothesis)
        self._max = max_tokens
        self._anchor = anchor
        self._pos = 0  # index in _hyp of the next history token expected

    def propose(self, history: Sequence[int], k: int) -> list[int]:
        """Continuation of the hypothesis after ``history``; ``k`` is ignored (it is cheap)."""
        n = len(history)
        if not self._hyp or n == 0:
            return []
        start = self._follow(history)
        if start is None or start >= len(self._hyp):
            return []
        return self._hyp[start : start + self._max]

    def _follow(self, history: Sequence[int]) -> int | None:
        """Index in the hypothesis of the token after ``history``, if it lines up."""
        n = len(history)
        if n <= len(self._hyp) and list(history) == self._hyp[:n]:
            return n
        tail = list(history[-self._anchor :])
        m = len(tail)
        for i in range(len(self._hyp) - m, -1, -1):  # the latest occurrence: drafts move forward
            if self._hyp[i : i + m] == tail:
                return i + m
        return None


def log_softmax(row: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Log-probabilities of a logits row (``-inf`` entries stay ``-inf``)."""
    x: npt.NDArray[np.float64] = row.astype(np.float64)
    top = float(np.max(x))
    shift = top + float(np.log(np.sum(np.exp(x - top))))
    return x - shift


def _pick(row: npt.NDArray[np.float32], suppress: npt.NDArray[np.int64]) -> tuple[int, float]:
    row = row.copy()
    row[suppress] = -np.inf
    token = int(np.argmax(row))
    return token, float(log_softmax(row)[token])


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
            Drafters whose ``source`` is ``"model"`` follow the adaptive K of ``settings``.
        settings: Adaptive K bounds.
        stats: Accumulates drafted/accepted/verify-pass counts.
    """
    settings = settings or DraftSettings()
    banned = np.asarray(sorted(set(suppress)), dtype=np.int64)
    first_banned = np.asarray(sorted(set(suppress) | set(first_suppress)), dtype=np.int64)
    nxt, lp = _pick(decoder.first_logits(), first_banned)
    out: list[int] = []
    logprobs: list[float] = []
    k_model = settings.num_tokens
    while nxt != eot and len(out) + 1 < max_new_tokens:
        room = max_new_tokens - len(out) - 2  # tokens that may follow nxt within the budget
        draft: list[int] = []
        source = ""
        for drafter in drafters:
            k = k_model if drafter.source == "model" else settings.hypothesis_tokens
            if k <= 0 or room <= 0:
                continue
            draft = drafter.propose([*out, nxt], min(k, room))[: min(k, room)]
            if draft:
                source = drafter.source
                break
        rows = decoder.feed([nxt, *draft])
        out.append(nxt)
        logprobs.append(lp)
        nxt, lp = _pick(rows[0], banned)
        accepted = 0
        for j, token in enumerate(draft):
            if token != nxt:
                break
            accepted += 1
            if token == eot:
                break
            out.append(token)
            logprobs.append(lp)
            nxt, lp = _pick(rows[j + 1], banned)
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
            if source == "model":
                grow = accepted == len(draft)
                k_model = min(settings.max_tokens, k_model + 1) if grow else max(settings.min_tokens, k_model - 1)
    finished = nxt == eot
    if finished:
        logprobs.append(lp)
    elif len(out) < max_new_tokens:
        out.append(nxt)  # the budget's last token: decided, never fed
        logprobs.append(lp)
    return GreedyResult(tuple(out), tuple(logprobs), finished)


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
