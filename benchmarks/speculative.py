"""Speculative decoding: what drafts cost and save, measured in one run on the same audio.

1. File windows (read speech and long-form, up to 29 s each), greedy, base:
   plain step decoding, base + tiny.en draft (this project's loop), and
   CTranslate2's C++ ``generate_speculative`` with the same tables, as a reference.
   Times cover the whole window decode (encoders, prefill, tokens); ratios are
   plain / other (above 1 is faster). Token agreement with plain is reported too
   (int8 kernels round batched and single-token passes differently).
2. Streaming replay (long-form recording through a live session, faster than real
   time): decoder time per update with hypothesis drafting off and on, the whole
   update time, and whether the final transcripts are identical.

    uv run python benchmarks/speculative.py [--compute-type int8] [--windows 12] [--seconds 90]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import numpy.typing as npt

from voicestream import media
from voicestream.asr import DecodeOptions, FasterWhisperEngine, default_cpu_threads, step_decoder
from voicestream.asr.speculative import SpeculativeStats, greedy_decode
from voicestream.catalog import resolve
from voicestream.live.replay import replay as replay_session
from voicestream.live.state import SessionState
from voicestream.messages import join_words
from voicestream.timebase import SAMPLE_RATE

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GREEDY = DecodeOptions(beam_size=1, language="en", temperatures=(0.0,))


class Stopwatch:
    """Accumulates the wall time of calls to a wrapped function."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
                self.calls += 1

        return timed


def file_windows(count: int) -> list[npt.NDArray[np.float32]]:
    rows = list(csv.DictReader((DATA / "read_speech_en" / "refs.tsv").open(encoding="utf-8"), delimiter="\t"))
    out = [media.decode(DATA / "read_speech_en" / r["file"])[: 29 * SAMPLE_RATE] for r in rows[: count // 2]]
    long = media.decode(DATA / "long_form" / "librispeech_concat_4spk.wav")
    step = 29 * SAMPLE_RATE
    out += [long[i : i + step] for i in range(0, long.size - step, step)][: count - len(out)]
    return out


def tokens(engine: FasterWhisperEngine, audio: npt.NDArray[np.float32], **kw: Any) -> list[int]:
    return [t for s in engine.transcribe(audio, 0.0, GREEDY, **kw) for t in s.tokens]


def generate_speculative(engine: FasterWhisperEngine, audio: npt.NDArray[np.float32]) -> list[int]:
    """CTranslate2's own speculative loop (no stats, no first-token blank suppression)."""
    from faster_whisper.transcribe import get_suppressed_tokens

    g = engine.greedy
    if g is None or g.draft is None or g.maps is None:
        raise SystemExit("generate_speculative needs a step decoder with a draft model of another tokenizer")
    tok = g.tokenizer(g.whisper, GREEDY)
    main_out, _ = g._encode(g.whisper, audio)
    draft_out, _ = g._encode(g.draft, audio)
    prompt = g._prompt(g.whisper, tok, None)
    ids: list[int] = g.whisper.model.generate_speculative(
        g.draft.model, main_out, draft_out, prompt=prompt, num_speculative_tokens=g.settings.num_tokens,
        max_length=448, eot_id=tok.eot, suppress_tokens=list(get_suppressed_tokens(tok, [-1])),
        d2m=g.maps.d2m.tolist(), m2d=g.maps.m2d.tolist(),
        min_speculative_tokens=g.settings.min_tokens, max_speculative_tokens=g.settings.max_tokens,
    )  # fmt: skip
    return ids


def bench_files(plain: FasterWhisperEngine, drafted: FasterWhisperEngine, count: int) -> None:
    windows = file_windows(count)
    for w in windows[:2]:  # warm up both paths
        tokens(plain, w)
        tokens(drafted, w)
    times = {"plain": 0.0, "tiny.en draft": 0.0, "generate_speculative": 0.0}
    stats = SpeculativeStats()
    same = same_c = total = 0
    for w in windows:
        t0 = time.perf_counter()
        ref = tokens(plain, w)
        t1 = time.perf_counter()
        got = tokens(drafted, w, stats=stats)
        t2 = time.perf_counter()
        c = generate_speculative(drafted, w)
        t3 = time.perf_counter()
        times["plain"] += t1 - t0
        times["tiny.en draft"] += t2 - t1
        times["generate_speculative"] += t3 - t2
        total += len(ref)
        same += ref == got
        same_c += ref == [t for t in c if t != 50257][: len(ref)]
    audio_s = sum(w.size for w in windows) / SAMPLE_RATE
    print(f"\n1. file windows: {len(windows)} windows, {audio_s:.0f} s of audio, {total} tokens (plain)")
    print(f"   {'path':24} {'seconds':>8} {'vs plain':>9}")
    for name, sec in times.items():
        print(f"   {name:24} {sec:8.2f} {times['plain'] / sec:8.2f}x")
    print(
        f"   tiny.en draft: {stats.accepted}/{stats.drafted} drafted tokens accepted "
        f"({100 * stats.acceptance_rate:.1f}%) in {stats.verify_passes} verification passes"
    )
    print(
        f"   token-identical windows: tiny.en draft {same}/{len(windows)}, generate_speculative {same_c}/{len(windows)}"
    )


def replay(engine: FasterWhisperEngine, audio: npt.NDArray[np.float32], drafts: bool) -> tuple[list[str], SessionState]:
    """Stream ``audio`` through a session in 0.5 s steps (faster than real time); final texts."""
    finals, session = replay_session(engine, audio, hypothesis_drafts=drafts)
    return [join_words(e.words) for e in finals], session


def bench_streaming(plain: FasterWhisperEngine, seconds: float) -> None:
    audio = media.decode(DATA / "long_form" / "librispeech_concat_4spk.wav")[: int(seconds * SAMPLE_RATE)]
    results = {}
    for drafts in (False, True):
        decoder, update = Stopwatch(), Stopwatch()
        # greedy_decode is defined in voicestream.asr.speculative; GreedyWhisper.decode calls
        # it by the name step_decoder imported, so that is the name timed
        with (
            mock.patch.object(step_decoder, "greedy_decode", decoder.wrap(greedy_decode)),
            mock.patch.object(plain, "transcribe", update.wrap(plain.transcribe)),
        ):
            finals, session = replay(plain, audio, drafts)
        results[drafts] = (finals, session.stats.speculative, decoder, update)
    off, on = results[False], results[True]
    print(f"\n2. streaming replay: {seconds:.0f} s of long-form speech, {on[3].calls} updates")
    print(f"   {'hypothesis drafts':18} {'decoder s/update':>17} {'update s/update':>16}")
    for name, (_, _, dec, upd) in (("off", off), ("on", on)):
        print(f"   {name:18} {dec.seconds / max(dec.calls, 1):17.3f} {upd.seconds / max(upd.calls, 1):16.3f}")
    dec_ratio = (off[2].seconds / off[2].calls) / (on[2].seconds / on[2].calls)
    upd_ratio = (off[3].seconds / off[3].calls) / (on[3].seconds / on[3].calls)
    spec = on[1]
    print(f"   decoder {dec_ratio:.2f}x faster per update, whole update {upd_ratio:.2f}x")
    print(
        f"   hypothesis tokens accepted {spec.hypothesis_accepted}/{spec.hypothesis_drafted} "
        f"({100 * spec.acceptance_rate:.1f}%), {spec.verify_passes} verification passes"
    )
    text_off, text_on = " ".join(off[0]), " ".join(on[0])
    print(f"   final text identical (case and punctuation included): {text_off == text_on}")
    if text_off != text_on:
        import jiwer

        print(
            f"   WER of one against the other: {100 * jiwer.wer(text_off, text_on):.2f}% counting case and "
            f"punctuation, {100 * wer(text_off, text_on):.2f}% normalised; finals {len(off[0])} off, {len(on[0])} on"
        )
    if seconds >= 87.2:
        ref = (DATA / "long_form" / "librispeech_concat_4spk.txt").read_text()
        print(
            f"   WER against the reference: off {100 * wer(ref, ' '.join(off[0])):.2f}%, "
            f"on {100 * wer(ref, ' '.join(on[0])):.2f}%"
        )


def wer(reference: str, hypothesis: str) -> float:
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    return float(jiwer.wer(norm(reference), norm(hypothesis)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compute-type", default="int8")
    ap.add_argument("--windows", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--skip-files", action="store_true")
    args = ap.parse_args()
    threads = default_cpu_threads()  # what load() uses when cpu_threads is not given, passed explicitly
    plain = FasterWhisperEngine.load(resolve("base"), compute_type=args.compute_type, cpu_threads=threads)
    print(f"base, {args.compute_type}, {threads} CPU threads")
    if not args.skip_files:
        drafted = FasterWhisperEngine.load(
            resolve("base"),
            compute_type=args.compute_type,
            cpu_threads=threads,
            draft=resolve("tiny.en"),
            draft_policy="always",
        )
        auto = FasterWhisperEngine.load(
            resolve("base"), compute_type=args.compute_type, cpu_threads=threads, draft=resolve("tiny.en")
        )
        print(f"--draft-policy auto: {auto.draft_note}")
        bench_files(plain, drafted, args.windows)
    bench_streaming(plain, args.seconds)


if __name__ == "__main__":
    main()
