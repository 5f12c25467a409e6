"""Temperature fallback on the step decoder, with its own seeded sampler. Sans-I/O.

CTranslate2 seeds each of its threads' random generators once, so its sampled fallback
reads the same window differently depending on what that thread drew before (measured:
one v2_dev clip gave 5 or 11 errors, and a live session's WER moved by a point between
runs). Here each window's draws come from a generator seeded by the call alone: the same
audio, options and seed give the same text, whatever ran before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voicestream.asr.speculative import Drafter, GreedyResult, StepDecoder, log_softmax

BEST_OF = 5
"""Sequences sampled per temperature; the most probable one (mean log-probability) is kept,
as faster-whisper's ``best_of``."""
CHECK_EVERY = 8
"""Sampled tokens between two looks at whether a sequence has already failed (a loop)."""
DRAFT_TOKENS = 8
"""Drafted tokens verified per pass while sampling (fewer than greedy's: more are rejected)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One temperature's decode of a window and its fallback checks.

    Attributes:
        result: The tokens and their log-probabilities (untempered, as OpenAI Whisper scores them).
        temperature: 0 for the greedy decode.
        avg_logprob: Summed log-probability over ``len(tokens) + 1`` (faster-whisper's measure).
        compression_ratio: gzip ratio of the text.
    """

    result: GreedyResult
    temperature: float
    avg_logprob: float
    compression_ratio: float


def generator(seed: int, temperature: float) -> np.random.Generator:
    """The random generator of one window's decode at ``temperature``: a function of the
    call alone (``seed`` modulo 2**32, the temperature in thousandths)."""
    return np.random.default_rng([seed % 2**32, round(temperature * 1000)])


def sample_decode(
    decoder: StepDecoder,
    *,
    eot: int,
    suppress: Sequence[int],
    first_suppress: Sequence[int],
    max_new_tokens: int,
    temperature: float,
    rng: np.random.Generator,
    drafter: Drafter | None = None,
    failed: Callable[[Sequence[int]], bool] | None = None,
) -> GreedyResult:
    """One sequence sampled at ``temperature`` (> 0) from the decoder rewound to its prompt.

    Tokens are drawn from ``softmax(log p / temperature)`` over the unbanned vocabulary;
    ``logprobs`` are the untempered ``log p``. ``max_new_tokens`` counts end-of-text, as in
    :func:`~voicestream.asr.speculative.greedy_decode`.

    ``drafter`` (the greedy decode's tokens) proposes tokens that are verified in one
    batched pass and kept by speculative sampling: a drafted token ``d`` stands with
    probability ``q(d)``, else the token is drawn from ``q`` without ``d`` (``q`` the
    tempered distribution), so the sequence is distributed exactly as one sampled step by
    step, at the cost of fewer passes where the draft is likely (a loop the greedy decode
    fell into, which the samples mostly follow). Every :data:`CHECK_EVERY` tokens,
    ``failed(tokens)`` may stop a sequence that can no longer pass (a repetition loop
    already over the compression limit), unfinished.
    """
    decoder.truncate(0)
    banned = np.asarray(sorted(set(suppress)), dtype=np.int64)
    first_banned = np.asarray(sorted(set(suppress) | set(first_suppress)), dtype=np.int64)
    logp = _log_probs(decoder.first_logits(), first_banned)
    nxt = _draw(_tempered(logp, temperature), rng)
    lp = float(logp[nxt])
    out: list[int] = []
    logprobs: list[float] = []
    checked = 0
    while nxt != eot and len(out) + 1 < max_new_tokens:
        room = max_new_tokens - len(out) - 2  # tokens that may follow nxt within the budget
        draft = drafter.propose([*out, nxt], min(DRAFT_TOKENS, room))[: min(DRAFT_TOKENS, room)] if drafter else []
        rows = decoder.feed([nxt, *draft])
        out.append(nxt)
        logprobs.append(lp)
        accepted = 0
        for j in range(len(draft) + 1):
            logp = _log_probs(rows[j], banned)
            q = _tempered(logp, temperature)
            kept = j < len(draft) and rng.random() < q[draft[j]]
            nxt = draft[j] if kept else _draw(q, rng, without=draft[j] if j < len(draft) else None)
            lp = float(logp[nxt])
            if not kept or nxt == eot:
                accepted += kept
                break
            accepted += 1
            out.append(nxt)
            logprobs.append(lp)
        if accepted < len(draft):
            decoder.truncate(len(out))
        if failed is not None and len(out) >= checked + CHECK_EVERY:
            checked = len(out)
            if failed(out):
                return GreedyResult(tuple(out), tuple(logprobs), False)
    finished = nxt == eot
    if finished or len(out) < max_new_tokens:
        out += [] if finished else [nxt]  # the budget's last token: decided, never fed
        logprobs.append(lp)
    return GreedyResult(tuple(out), tuple(logprobs), finished)


def _log_probs(row: npt.NDArray[np.float32], banned: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    masked = np.array(row, dtype=np.float32, copy=True).reshape(-1)
    masked[banned] = -np.inf
    return log_softmax(masked)


def _tempered(logp: npt.NDArray[np.float64], temperature: float) -> npt.NDArray[np.float64]:
    """``softmax(logp / temperature)`` (``(vocab,)``)."""
    scaled: npt.NDArray[np.float64] = np.exp((logp - logp.max()) / temperature)
    scaled /= scaled.sum()
    return scaled


def _draw(q: npt.NDArray[np.float64], rng: np.random.Generator, without: int | None = None) -> int:
    """A token drawn from ``q`` (the tempered distribution, ``(vocab,)``; changed in place),
    ``without`` one token (a rejected draft)."""
    if without is not None:
        q[without] = 0.0
        total = q.sum()
        if total <= 0.0:  # the draft held all the mass: nothing else can be drawn
            return without
        q /= total
    return int(rng.choice(q.size, p=q))


def best_sample(candidates: Sequence[GreedyResult]) -> GreedyResult:
    """The candidate with the highest mean token log-probability (end-of-text included)."""
    return max(candidates, key=lambda c: sum(c.logprobs) / max(1, len(c.logprobs)))


def fallback_choice(attempts: Sequence[Attempt], compression_ratio_threshold: float | None) -> Attempt:
    """When every temperature failed its checks: the most probable attempt among those not
    too repetitive, else among all (faster-whisper's rule; the greedy attempt included)."""
    calm = [
        a for a in attempts if compression_ratio_threshold is None or a.compression_ratio <= compression_ratio_threshold
    ]
    return max(calm or attempts, key=lambda a: a.avg_logprob)
