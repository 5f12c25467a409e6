"""Unit tests of the speculative greedy loop with a fake decoder behind the StepDecoder protocol."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from voicestream.asr.speculative import (
    Drafter,
    DraftSettings,
    DraftSource,
    GreedyResult,
    HypothesisDrafter,
    SpeculativeStats,
    build_token_maps,
    expected_speedup,
    greedy_decode,
)

VOCAB = 12
EOT = 11
BLANK = 10
SUPPRESSED = 9


class FakeDecoder:
    """A deterministic 'language model': logits depend on every token fed so far.

    Counts passes, so tests can see that drafts save sequential passes.
    """

    def __init__(self, seed: int, length: int) -> None:
        self.seed = seed
        self.length = length
        self.fed: list[int] = []
        self.passes = 0

    def _row(self, history: Sequence[int]) -> npt.NDArray[np.float32]:
        rng = random.Random(hash((self.seed, tuple(history))))
        row = np.array([rng.random() for _ in range(VOCAB)], dtype=np.float32)
        row[BLANK] += 0.5 if not history else 0.0  # blank would win the first position
        row[SUPPRESSED] += 2.0  # always the raw argmax: must be suppressed
        row[EOT] = 5.0 if len(history) >= self.length else -5.0
        return row

    def first_logits(self) -> npt.NDArray[np.float32]:
        return self._row([])

    def feed(self, tokens: Sequence[int]) -> npt.NDArray[np.float32]:
        self.passes += 1
        rows = []
        for t in tokens:
            self.fed.append(t)
            rows.append(self._row(self.fed))
        return np.stack(rows)

    def truncate(self, generated: int) -> None:
        assert generated <= len(self.fed)
        del self.fed[generated:]


class ListDrafter:
    """Proposes from a fixed token list by position (right or wrong)."""

    def __init__(self, tokens: list[int], source: DraftSource = "model") -> None:
        self.tokens = tokens
        self.source = source

    def propose(self, history: Sequence[int], k: int) -> list[int]:
        return self.tokens[len(history) : len(history) + k]


def decode(
    seed: int,
    length: int,
    drafters: Sequence[Drafter] = (),
    budget: int = 64,
    *,
    settings: DraftSettings | None = None,
    stats: SpeculativeStats | None = None,
) -> GreedyResult:
    return greedy_decode(
        FakeDecoder(seed, length),
        eot=EOT,
        suppress=[SUPPRESSED],
        first_suppress=[BLANK, EOT],
        max_new_tokens=budget,
        drafters=drafters,
        settings=settings,
        stats=stats,
    )


@pytest.mark.parametrize("seed", range(8))
def test_plain_decode_follows_the_argmax_and_suppression(seed: int) -> None:
    result = decode(seed, 12)
    assert result.finished and len(result.tokens) == 12
    assert result.tokens[0] != BLANK and SUPPRESSED not in result.tokens and EOT not in result.tokens
    assert len(result.logprobs) == 13 and all(lp <= 0 for lp in result.logprobs)


@pytest.mark.parametrize("seed", range(8))
def test_any_draft_gives_the_plain_tokens(seed: int) -> None:
    """Right, wrong, partly right, too long and end-of-text drafts all change nothing."""
    plain = decode(seed, 15)
    truth = [*list(plain.tokens), EOT]
    rng = random.Random(seed)
    noisy = [t if rng.random() < 0.7 else (t + 1) % 9 for t in truth]
    cases = [truth, noisy, truth[:6], [0] * 30, [*truth[:8], 3, 3, *truth[10:]]]
    for tokens in cases:
        for settings in (DraftSettings(), DraftSettings(1, 1, 1), DraftSettings(2, 0, 16)):
            stats = SpeculativeStats()
            got = decode(seed, 15, [ListDrafter(tokens)], settings=settings, stats=stats)
            assert got.tokens == plain.tokens
            assert got.finished
            assert np.allclose(got.logprobs, plain.logprobs)
            assert stats.accepted <= stats.drafted


def test_a_right_draft_saves_passes_and_is_counted() -> None:
    plain_decoder = FakeDecoder(3, 40)
    plain = greedy_decode(plain_decoder, eot=EOT, suppress=[SUPPRESSED], first_suppress=[BLANK], max_new_tokens=64)
    truth = [*list(plain.tokens), EOT]
    decoder = FakeDecoder(3, 40)
    stats = SpeculativeStats()
    got = greedy_decode(
        decoder,
        eot=EOT,
        suppress=[SUPPRESSED],
        first_suppress=[BLANK],
        max_new_tokens=64,
        drafters=[ListDrafter(truth, "hypothesis")],
        stats=stats,
    )
    assert got.tokens == plain.tokens
    assert decoder.passes == 1 and plain_decoder.passes == 40
    assert stats.verify_passes == 1 and stats.drafted == 40 and stats.accepted == 40
    assert stats.hypothesis_accepted == 40 and stats.acceptance_rate == 1.0


def test_token_budget_is_the_same_with_drafts() -> None:
    plain = decode(5, 50, budget=10)
    assert not plain.finished and len(plain.tokens) == 10
    truth = list(decode(5, 50).tokens)
    got = decode(5, 50, [ListDrafter(truth)], budget=10)
    assert got == plain


def test_first_drafter_with_a_proposal_wins() -> None:
    truth = [*list(decode(1, 10).tokens), EOT]
    stats = SpeculativeStats()
    decode(1, 10, [ListDrafter([], "hypothesis"), ListDrafter(truth)], stats=stats)
    assert stats.drafted > 0 and stats.hypothesis_drafted == 0


def test_adaptive_k_grows_on_full_acceptance() -> None:
    truth = [*list(decode(2, 30).tokens), EOT]
    fixed, adaptive = SpeculativeStats(), SpeculativeStats()
    decode(2, 30, [ListDrafter(truth)], settings=DraftSettings(2, 2, 2), stats=fixed)
    decode(2, 30, [ListDrafter(truth)], settings=DraftSettings(2, 1, 12), stats=adaptive)
    assert adaptive.verify_passes < fixed.verify_passes


def test_draft_settings_reject_bad_bounds() -> None:
    with pytest.raises(ValueError):
        DraftSettings(4, 5, 8)
    with pytest.raises(ValueError):
        DraftSettings(9, 1, 8)


def test_hypothesis_drafter_follows_substitutions_insertions_and_drops() -> None:
    d = HypothesisDrafter([1, 2, 3, 4, 5, 6, 7, 8], anchor=2)
    assert d.propose([1], 0) == [2, 3, 4, 5, 6, 7, 8]
    assert d.propose([1, 2, 3], 0) == [4, 5, 6, 7, 8]
    assert d.propose([1, 2, 3, 9], 0) == []  # 4 became 9? skip it, once 5 confirms
    assert d.propose([1, 2, 3, 9, 5], 0) == [6, 7, 8]
    assert d.propose([1, 2, 3, 9, 5, 6], 0) == [7, 8]
    assert d.propose([1, 2, 3, 9, 5, 6, 8], 0) == []  # 7 dropped: re-anchored on "6 8", at the end
    inserted = HypothesisDrafter([1, 2, 3, 4, 5, 6], anchor=2)
    assert inserted.propose([1, 2, 0], 0) == []  # a guess: substitution, unconfirmed
    assert inserted.propose([1, 2, 0, 3], 0) == [4, 5, 6]  # 3 found just behind the guess
    assert HypothesisDrafter([]).propose([1], 4) == []
    assert HypothesisDrafter([5, 5]).propose([7, 7, 7], 0) == []


def test_token_maps_match_by_token_text() -> None:
    main = {"a": 0, "b": 1, "<|endoftext|>": 2, "c": 3}
    draft = {"<|endoftext|>": 0, "c": 1, "z": 2}
    maps = build_token_maps(main, draft)
    assert maps.d2m.tolist() == [2, 3, -1]
    assert maps.m2d.tolist() == [-1, -1, 0, 1]
    assert maps.mapped == 2


def test_stats_add_and_report() -> None:
    a = SpeculativeStats(10, 8, 2, 4, 4)
    a.add(SpeculativeStats(10, 2, 3))
    doc = a.snapshot().as_dict()
    assert doc["drafted"] == 20 and doc["accepted"] == 10 and doc["verify_passes"] == 5
    assert doc["acceptance_rate"] == 0.5 and doc["hypothesis"] == {"drafted": 4, "accepted": 4}
    assert SpeculativeStats().acceptance_rate == 0.0


def test_expected_speedup_of_drafting() -> None:
    # a GPU-like case: the small decoder is cheap and verifying K+1 tokens costs about one step
    assert expected_speedup(0.020, 0.004, 0.022, 4, 0.8) > 1.5
    # this CPU: tiny.en's step costs most of base's and a batched pass costs two steps
    assert expected_speedup(0.0118, 0.0069, 0.0222, 4, 0.8) == pytest.approx(0.80, abs=0.01)
    # perfect acceptance with a free draft approaches K+1 tokens per verify pass
    assert expected_speedup(0.01, 0.0, 0.01, 4, 1.0) == pytest.approx(5.0, rel=0.01)
