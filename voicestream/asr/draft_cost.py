"""What drafting with a draft model would gain on this device, measured at load time."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicestream.asr.speculative import expected_speedup


@dataclass(frozen=True, slots=True)
class DraftCost:
    """Decoder costs measured on this device, and what they predict.

    Attributes:
        main_step_s: One single-token pass of the main decoder (s).
        draft_step_s: One single-token pass of the draft decoder (s).
        verify_s: One batched main pass of ``k + 1`` tokens (s).
        k: Draft tokens per round assumed.
        acceptance: Per-token acceptance assumed.
        speedup: :func:`~voicestream.asr.speculative.expected_speedup` of these.
    """

    main_step_s: float
    draft_step_s: float
    verify_s: float
    k: int
    acceptance: float
    speedup: float

    def describe(self) -> str:
        return (
            f"expected {self.speedup:.2f}x (main step {1000 * self.main_step_s:.1f} ms, draft step "
            f"{1000 * self.draft_step_s:.1f} ms, verifying {self.k + 1} tokens {1000 * self.verify_s:.1f} ms, "
            f"{100 * self.acceptance:.0f}% acceptance)"
        )


ASSUMED_ACCEPTANCE = 0.8
"""tiny.en drafting for base accepted 82% of its tokens on English speech here."""


def _step_costs(model: Any, k: int, repeats: int = 8) -> tuple[float, float]:
    """Best single-step and ``k + 1``-token batch times (s) of a faster-whisper model."""
    features = np.zeros((int(model.model.n_mels), 200), dtype=np.float32)
    encoded = model.encode(features)
    sot = int(model.hf_tokenizer.token_to_id("<|startoftranscript|>"))
    state, _ = model.model.prefill(encoded, [sot])
    token = int(model.hf_tokenizer.encode(" the", add_special_tokens=False).ids[0])
    step = batch = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.model.forward_step(state, token)
        t1 = time.perf_counter()
        model.model.forward_batch(state, [token] * (k + 1))
        t2 = time.perf_counter()
        state.truncate_to_step(1)
        step, batch = min(step, t1 - t0), min(batch, t2 - t1)
    return step, batch


def measure_draft_cost(main: Any, draft: Any, k: int, acceptance: float = ASSUMED_ACCEPTANCE) -> DraftCost:
    """Time the two decoders here (a few ms of work) and predict the speed-up of drafting."""
    main_step, verify = _step_costs(main, k)
    draft_step, _ = _step_costs(draft, k)
    return DraftCost(
        main_step, draft_step, verify, k, acceptance, expected_speedup(main_step, draft_step, verify, k, acceptance)
    )
