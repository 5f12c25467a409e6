"""Unit tests of the seeded temperature fallback (voicestream.asr.sampling) with a fake
decoder behind the StepDecoder protocol: exact distribution with and without drafts,
repeatable draws, the token budget, and the fallback choice."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from voicestream.asr.sampling import (
    Attempt,
    best_sample,
    fallback_choice,
    generator,
    sample_decode,
)
from voicestream.asr.speculative import GreedyResult, HypothesisDrafter

EOT = 3
with np.errstate(divide="ignore"):  # the start row gives end-of-text no chance
    TABLE: npt.NDArray[np.float32] = np.log(
        np.array(
            [  # next-token probabilities after each token (a Markov chain), then at the start
                [0.1, 0.6, 0.2, 0.1],
                [0.5, 0.1, 0.2, 0.2],
                [0.3, 0.3, 0.1, 0.3],
                [0.25, 0.25, 0.25, 0.25],
                [0.7, 0.2, 0.1, 0.0],
            ]
        )
    ).astype(np.float32)
START = 4
_CHAIN = np.exp(TABLE[:4].astype(np.float64)).T
TRANSPOSED: npt.NDArray[np.float64] = _CHAIN / _CHAIN.sum(axis=1, keepdims=True)


class MarkovDecoder:
    """Logits that depend on the last token fed and on how many were fed (odd counts read
    the table transposed), so a rewind to the wrong step changes what follows; counts passes."""

    def __init__(self) -> None:
        self.fed: list[int] = []
        self.passes = 0

    def first_logits(self) -> npt.NDArray[np.float32]:
        return TABLE[START, :]

    def feed(self, tokens: Sequence[int]) -> npt.NDArray[np.float32]:
        self.passes += 1
        rows = []
        for t in tokens:
            self.fed.append(t)
            rows.append(row(len(self.fed), t))
        return np.stack(rows)

    def truncate(self, generated: int) -> None:
        assert generated <= len(self.fed)
        del self.fed[generated:]


def row(fed: int, last: int) -> npt.NDArray[np.float32]:
    """Logits after ``fed`` generated tokens, the last one ``last``."""
    return TABLE[last, :] if fed % 2 == 0 else np.log(TRANSPOSED[last, :]).astype(np.float32)


def exact(temperature: float, budget: int) -> dict[tuple[int, ...], float]:
    """Probability of every sequence (end-of-text dropped) sampled from the tempered chain."""

    def q(fed: int, last: int) -> npt.NDArray[np.float64]:
        p: npt.NDArray[np.float64] = np.exp(
            (TABLE[START] if fed == 0 else row(fed, last)).astype(np.float64) / temperature
        )
        p /= p.sum()
        return p

    out: defaultdict[tuple[int, ...], float] = defaultdict(float)
    for n in range(1, budget + 1):
        for seq in itertools.product(range(4), repeat=n):
            if EOT in seq[:-1] or (n < budget and seq[-1] != EOT):
                continue
            p, last = 1.0, START
            for k, t in enumerate(seq):
                p, last = p * q(k, last)[t], t
            out[seq[:-1] if seq[-1] == EOT else seq] += p
    return out


def positions(counts: Mapping[tuple[int, ...], float]) -> defaultdict[tuple[int, int], float]:
    """Share of each token (or -1: ended before it) at each of the 4 positions."""
    total = sum(counts.values())
    out: defaultdict[tuple[int, int], float] = defaultdict(float)
    for seq, n in counts.items():
        for k in range(4):
            out[k, seq[k] if k < len(seq) else -1] += n / total
    return out


def draws(n: int, temperature: float, drafted: bool) -> tuple[Counter[tuple[int, ...]], int]:
    rng, decoder = generator(7, temperature), MarkovDecoder()
    seen: Counter[tuple[int, ...]] = Counter()
    for _ in range(n):
        drafter = HypothesisDrafter([0, 1, 0, 1, EOT]) if drafted else None
        result = sample_decode(decoder, eot=EOT, suppress=[], first_suppress=[], max_new_tokens=4,
                               temperature=temperature, rng=rng, drafter=drafter)  # fmt: skip
        assert len(result.tokens) <= 4 and EOT not in result.tokens
        assert len(result.logprobs) == len(result.tokens) + result.finished
        # the state holds what was generated, rejected drafts rewound: all but an unfed last
        # token (and a drafted end-of-text that was accepted)
        fed = decoder.fed[:-1] if decoder.fed[-1:] == [EOT] else decoder.fed
        assert fed == list(result.tokens[: len(fed)]) and len(fed) >= len(result.tokens) - 1
        seen[result.tokens] += 1
    return seen, decoder.passes


def test_drafted_sampling_draws_from_the_same_distribution_in_fewer_passes() -> None:
    """Speculative sampling keeps the tempered distribution exactly: both ways match the
    chain's probabilities at each position (total variation under 0.03 over 8000 draws;
    measured up to 0.012), and drafts save passes."""
    for temperature in (0.4, 1.0):
        truth = exact(temperature, 4)
        assert abs(sum(truth.values()) - 1.0) < 1e-9
        plain, plain_passes = draws(8000, temperature, drafted=False)
        drafted, drafted_passes = draws(8000, temperature, drafted=True)
        for seen in (plain, drafted):
            share = positions(seen)
            for k in range(4):  # per position: every verification pass, rewinds included
                tv = 0.5 * sum(abs(p - share[key]) for key, p in positions(truth).items() if key[0] == k)
                assert tv < 0.03, (temperature, k, tv)
        assert drafted_passes < plain_passes


def test_the_same_call_draws_the_same_sequence() -> None:
    """A window's draws depend on the seed and temperature alone, not on earlier calls."""

    def call(decoder: MarkovDecoder, seed: int) -> GreedyResult:
        return sample_decode(decoder, eot=EOT, suppress=[], first_suppress=[], max_new_tokens=20,
                             temperature=1.0, rng=generator(seed, 1.0))  # fmt: skip

    decoder = MarkovDecoder()
    first = call(decoder, 3)
    others = [call(decoder, seed) for seed in range(4, 12)]  # other windows, same decoder
    assert call(decoder, 3) == first and any(o != first for o in others)
    a, b, c = generator(3, 0.4).random(), generator(3, 0.8).random(), generator(4, 0.4).random()
    assert len({a, b, c}) == 3
    assert generator(-1, 0.4).random() == generator(2**32 - 1, 0.4).random()  # any int seeds


def test_suppressed_tokens_budget_and_a_loop_given_up() -> None:
    """Suppressed ids never come, the first position bans its own, the budget holds, and a
    sequence judged failed stops at the next check."""
    rng = generator(0, 1.0)
    for _ in range(200):
        result = sample_decode(MarkovDecoder(), eot=EOT, suppress=[2], first_suppress=[0], max_new_tokens=6,
                               temperature=1.0, rng=rng)  # fmt: skip
        assert 2 not in result.tokens and (not result.tokens or result.tokens[0] != 0)
        assert len(result.tokens) <= 6
    looping = sample_decode(MarkovDecoder(), eot=EOT, suppress=[EOT], first_suppress=[], max_new_tokens=100,
                            temperature=1.0, rng=rng, failed=lambda tokens: len(tokens) >= 10)  # fmt: skip
    assert 10 <= len(looping.tokens) < 10 + 8 + 1 and not looping.finished


def test_the_most_probable_sample_and_the_fallback_choice() -> None:
    sure = GreedyResult((1, 2), (-0.1, -0.1, -0.1), True)
    unsure = GreedyResult((1,), (-2.0, -0.1), True)
    assert best_sample([unsure, sure]) is sure
    loop = Attempt(sure, 0.0, -0.2, 3.1)
    calm = Attempt(unsure, 0.4, -1.4, 1.2)
    worse = Attempt(unsure, 0.8, -1.6, 1.1)
    assert fallback_choice([loop, calm, worse], 2.4) is calm  # not too repetitive first
    assert fallback_choice([loop, calm], None) is loop
    assert fallback_choice([loop], 2.4) is loop
