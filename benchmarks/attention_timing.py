"""Would word times from the decode's own cross-attention be cheaper than ``align``?

Every live update times its words with CTranslate2's ``align`` (faster-whisper's
``add_word_timestamps``): one more decoder pass over the start sequence and the text, about a
tenth of a loaded session's CPU. The ctranslate2-crisperwhisper build can instead return the
alignment heads' cross-attention from the decoder passes an update makes anyway
(``set_alignment_heads``, ``prefill_with_attention``, ``forward_batch_with_attention``), so
only the DTW would be left to do.

For each window (v2_dev's English recordings, encoded once, one thread): the greedy text, then
the time of ``align`` over it, of the decoder pass that verifies it (prompt prefill, then the
text in one ``forward_batch``: an update whose draft was right), and of the same pass with the
attention captured, on a second copy of the model (``set_alignment_heads`` changes the
model's attention for every caller). Capturing pays only if it costs less than ``align``,
before any DTW.

    uv run python benchmarks/attention_timing.py [--model base] [--seconds 6] [--windows 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from voicestream.blas import one_blas_thread
from voicestream.catalog import resolve
from voicestream.registry import create_asr_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decoder_batching import encoded, recordings


def align_s(model: Any, view: Any, sot: list[int], text: list[int]) -> float:
    """Seconds of ``align`` over ``text`` (the word times every update computes today)."""
    start = time.perf_counter()
    model.align(view, sot, [text], int(view.shape[1]) * 2, median_filter_width=7)
    return time.perf_counter() - start


def pass_s(model: Any, view: Any, prompt: list[int], text: list[int], capture: bool) -> float:
    """Seconds of the pass that verifies ``text`` after ``prompt``, the attention captured or not."""
    start = time.perf_counter()
    if capture:
        state, _logits, _first = model.prefill_with_attention(view, prompt)
        model.forward_batch_with_attention(state, text)
    else:
        state, _logits = model.prefill(view, prompt)
        model.forward_batch(state, text)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="base")
    parser.add_argument("--seconds", type=float, default=6.0, help="audio per window (s)")
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    one_blas_thread()
    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer

    plain = create_asr_engine(args.model, cpu_threads=1)
    capturing = create_asr_engine(args.model, cpu_threads=1).whisper_model.model
    config = json.loads((Path(resolve(args.model).path) / "config.json").read_text())
    capturing.set_alignment_heads([tuple(h) for h in config["alignment_heads"]])
    whisper = plain.whisper_model
    model = whisper.model
    tokenizer = Tokenizer(whisper.hf_tokenizer, model.is_multilingual, task="transcribe", language="en")
    sot = list(tokenizer.sot_sequence)
    prompt = [*sot, tokenizer.no_timestamps]
    totals = {"align": 0.0, "pass": 0.0, "capture": 0.0}
    tokens = 0
    for audio in recordings(args.windows, args.seconds):
        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded(plain, audio, args.seconds)))
        text = list(model.generate(view, [prompt], beam_size=1, max_length=224)[0].sequences_ids[0])
        tokens += len(text)
        pass_s(model, view, prompt, text, False)  # warm-up
        pass_s(capturing, view, prompt, text, True)
        for _ in range(args.repeats):  # alternated: the CPU's speed drifts
            totals["align"] += align_s(model, view, sot, text)
            totals["pass"] += pass_s(model, view, prompt, text, False)
            totals["capture"] += pass_s(capturing, view, prompt, text, True)
    ms = {k: v / (args.windows * args.repeats) * 1000 for k, v in totals.items()}
    extra = ms["capture"] - ms["pass"]
    print(f"{args.model}, {args.windows} windows of {args.seconds:g} s ({tokens / args.windows:.0f} tokens each), "
          f"one thread: align {ms['align']:.1f} ms; the verifying pass {ms['pass']:.1f} ms, with the attention "
          f"captured {ms['capture']:.1f} ms (+{extra:.1f} ms, {extra / ms['align']:.2f}x align's cost, "
          "before the DTW)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
