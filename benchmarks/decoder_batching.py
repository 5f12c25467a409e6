"""Does batching Whisper's decoder across sessions pay on this CPU?

Greedy-decodes B windows of real speech (v2_dev's English recordings, each cut or padded to
the same length and encoded once beforehand) in one CTranslate2 ``generate`` call, and the
same B windows one by one, on one thread (a live worker's share of the cores). Prints the
decoder time per window of each, the ratio, and how many batched outputs are token for token
the ones decoded alone (CPU int8 kernels for several rows may round differently).

This is the best case for cross-session batching: live windows differ in length (a batch
pads them to the longest, which changes the text), and a live update mostly verifies the
previous hypothesis in one pass instead of generating every token, which ``generate`` cannot.

    uv run python benchmarks/decoder_batching.py [--model base] [--seconds 6] [--batch 1,2,4,8] [--mixed] [--drafted]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

import numpy as np

from voicestream import media
from voicestream.blas import one_blas_thread
from voicestream.registry import create_asr_engine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "v2_dev"
MARGIN_S = 1.0
"""Silence (s) after each window's speech, as the live path's fitted windows have."""


def recordings(count: int, seconds: float) -> list[np.ndarray]:
    """The first ``seconds`` (at most) of v2_dev's first ``count`` English recordings, float32 16 kHz."""
    rows = list(csv.DictReader((DATA / "asr_en.tsv").open(), delimiter="\t"))[:count]
    return [media.decode(DATA / row["file"])[: round(seconds * 16000)] for row in rows]


def encoded(engine: Any, audio: np.ndarray, seconds: float) -> np.ndarray:
    """The encoder output ``(1, frames / 2, d_model)`` of ``audio`` padded with silence to
    ``seconds`` and followed by 1 s more, as a live window's margin (Whisper loops on audio
    cut mid-word with no silence after it)."""
    import ctranslate2

    whisper = engine.whisper_model
    samples = round((seconds + MARGIN_S) * 16000)
    mel = whisper.feature_extractor(np.pad(audio, (0, samples - audio.size)))
    mel = np.ascontiguousarray(mel[None, :, : samples // 160].astype(np.float32))
    return np.array(whisper.model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))


def decode(model: Any, encoded: np.ndarray, prompt: list[int]) -> tuple[float, list[list[int]]]:
    """Seconds for one greedy ``generate`` over the batch ``encoded``, and its token ids."""
    import ctranslate2

    view = ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded))
    start = time.perf_counter()
    results = model.generate(view, [prompt] * encoded.shape[0], beam_size=1, max_length=224)
    return time.perf_counter() - start, [r.sequences_ids[0] for r in results]


class _Timed:
    """A CTranslate2 ``Whisper`` whose calls add their seconds to ``seconds[name]``."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.seconds: dict[str, float] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._model, name)
        if not callable(attr):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

        return timed


def drafted_ms(engine: Any, count: int, seconds: float, step_s: float) -> tuple[float, float]:
    """Milliseconds per window that the live path's decoder (prompt prefill, hypothesis
    verification, single steps) and word alignment take on the first ``seconds`` of ``count``
    recordings, its draft the greedy text of the window ``step_s`` earlier (the last update's
    hypothesis), greedy, 1 s of margin."""
    from voicestream.asr.base import DecodeOptions

    options = DecodeOptions(language="en", beam_size=1, temperatures=(0.0,), margin_frames=round(MARGIN_S * 100))
    whisper = engine.whisper_model
    timed = _Timed(whisper.model)
    decoder_s = align_s = 0.0
    for audio in recordings(count, seconds):
        earlier = engine.transcribe(audio[: round((seconds - step_s) * 16000)], 0.0, options)
        hypothesis = " ".join(seg.text for seg in earlier)
        whisper.model, timed.seconds = timed, {}
        try:
            engine.transcribe(audio, 0.0, options, hypothesis)
        finally:
            whisper.model = timed._model
        decoder_s += sum(t for name, t in timed.seconds.items() if name.startswith(("prefill", "forward")))
        align_s += timed.seconds.get("align", 0.0)
    return decoder_s / count * 1000, align_s / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="base")
    parser.add_argument("--seconds", type=float, default=6.0, help="audio per window (s)")
    parser.add_argument("--batch", default="1,2,4,8")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--mixed", action="store_true",
        help="windows of 3, 4, ... s of speech, each padded with silence to the longest for the batch "
        "(decoded alone at their own length): how much padding changes the text",
    )  # fmt: skip
    parser.add_argument(
        "--drafted", action="store_true",
        help="also time the live path's drafted decoder and word alignment on the same windows",
    )  # fmt: skip
    args = parser.parse_args()
    one_blas_thread()
    engine = create_asr_engine(args.model, cpu_threads=1)
    from faster_whisper.tokenizer import Tokenizer

    whisper = engine.whisper_model
    tokenizer = Tokenizer(whisper.hf_tokenizer, whisper.model.is_multilingual, task="transcribe", language="en")
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    sizes = [int(x) for x in args.batch.split(",")]
    cuts = [3.0 + k for k in range(max(sizes))]
    speech = recordings(max(sizes), max(args.seconds, cuts[-1]))
    windows = [encoded(engine, a[: round(args.seconds * 16000)], args.seconds) for a in speech]
    # --mixed: each window alone at its own length, and in a batch padded to the batch's longest
    own = (
        [encoded(engine, a[: round(cut * 16000)], cut) for a, cut in zip(speech, cuts, strict=True)]
        if args.mixed
        else []
    )
    decode(whisper.model, windows[0], prompt)  # warm-up
    for b in sizes:
        if args.mixed:
            windows = [
                encoded(engine, a[: round(cut * 16000)], cuts[b - 1]) for a, cut in zip(speech[:b], cuts, strict=False)
            ]
        alone_s = batched_s = 0.0
        for _ in range(args.repeats):  # alternated: the CPU's speed drifts
            singles = [decode(whisper.model, w, prompt) for w in (own if args.mixed else windows)[:b]]
            alone_s += sum(t for t, _ in singles)
            took, ids = decode(whisper.model, np.concatenate(windows[:b]), prompt)
            batched_s += took
        same = sum(ids[k] == singles[k][1][0] for k in range(b))
        tokens = sum(len(s[1][0]) for s in singles)
        alone_ms = alone_s / args.repeats / b * 1000
        batched_ms = batched_s / args.repeats / b * 1000
        size = (
            f"3-{cuts[b - 1]:g} s windows padded to {cuts[b - 1]:g} s" if args.mixed else f"{args.seconds:g} s windows"
        )
        print(f"{args.model}, {size}, batch {b} ({tokens / b:.0f} tokens per window): "
              f"{batched_ms:.0f} ms per window batched, {alone_ms:.0f} ms alone: {alone_ms / batched_ms:.2f}x; "
              f"{same} of {b} token-identical", flush=True)  # fmt: skip
    if args.drafted:
        decoder, align = drafted_ms(engine, max(sizes), args.seconds, 2.0)
        print(f"the live path on the same {args.seconds:g} s windows, the text 2 s earlier as draft: "
              f"decoder {decoder:.0f} ms and word alignment {align:.0f} ms per window", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
