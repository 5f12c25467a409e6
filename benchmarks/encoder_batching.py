"""Does batching Whisper's encoder across sessions pay on this CPU?

Encodes B windows of the same length in one CTranslate2 call and B windows one by one, on
one thread (a live worker's share of the cores), and prints the time per window of each with
the ratio. Live sessions' windows differ in length, so a real batch would also pad to the
longest; this measures the best case.

    uv run python benchmarks/encoder_batching.py [--model base] [--frames 600,900] [--batch 1,2,4,8]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from voicestream.blas import one_blas_thread
from voicestream.registry import create_asr_engine


def per_window_ms(model: Any, features: np.ndarray, repeats: int) -> float:
    """Encoder milliseconds per window of ``model`` (a ``ctranslate2.models.Whisper``)."""
    import ctranslate2

    view = ctranslate2.StorageView.from_array(np.ascontiguousarray(features))
    model.encode(view)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        model.encode(view)
    windows = int(features.shape[0])
    return (time.perf_counter() - start) / repeats / windows * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="base")
    parser.add_argument("--frames", default="600,900", help="encoder frames per window (100 per second)")
    parser.add_argument("--batch", default="1,2,4,8")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    one_blas_thread()
    model = create_asr_engine(args.model, cpu_threads=1).whisper_model.model
    rng = np.random.default_rng(0)
    for frames in (int(f) for f in args.frames.split(",")):
        window = (rng.standard_normal((1, 80, frames)) * 0.5).astype(np.float32)
        for b in (int(x) for x in args.batch.split(",")):
            alone = per_window_ms(model, window, args.repeats * 2)  # next to each batch: the CPU's speed drifts
            batched = per_window_ms(model, np.repeat(window, b, axis=0), args.repeats)
            print(f"{args.model}, {frames} frames, batch {b}: {batched:.0f} ms per window batched, "
                  f"{alone:.0f} ms alone: {alone / batched:.2f}x", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
