"""Which VAD settings the file job should ship: every candidate against bare faster-whisper,
chosen leave-one-recording-out.

For each candidate (``--pads`` x ``--silences``: the padding around each speech region and
the silence that ends one) the file job (``transcribe``'s path, language given) runs over
v2_dev's English recordings and the older sets with references (``read_speech_en``, JFK,
the 2-speaker call, the 87 s LibriSpeech join); bare ``WhisperModel.transcribe(beam_size=5,
vad_filter=True)`` runs on the same audio in the same run. It prints WER per candidate, the
candidate fitted on everything, and the **leave-one-recording-out** figure: each recording
scored with the candidate that is best on all the others, so the choice is judged on
speech it was not fitted to.

    uv run python benchmarks/file_settings.py [--model base] [--pads 0.2,0.3,0.4] [--silences 0.5,1,2] [--json F]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import jiwer
import numpy as np
from whisper_normalizer.english import EnglishTextNormalizer

from voicestream import media
from voicestream.asr import DecodeOptions, FasterWhisperEngine
from voicestream.blas import one_blas_thread
from voicestream.errors import NoSpeechError
from voicestream.messages import join_words
from voicestream.pipeline import TranscribeSettings, transcribe_samples
from voicestream.registry import create_asr_engine
from voicestream.vad import SileroVad, VadSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_normalise = EnglishTextNormalizer()


@dataclass(frozen=True)
class Recording:
    """One recording with its reference text; ``group``: the set it comes from."""

    path: Path
    reference: str
    group: str


def recordings(data: Path) -> list[Recording]:
    """v2_dev's English recordings, then the older sets with a reference."""

    def tsv(path: Path) -> list[dict[str, str]]:
        return list(csv.DictReader(path.open(encoding="utf-8"), delimiter="\t", quoting=csv.QUOTE_NONE))

    dev = tsv(data / "v2_dev" / "asr_en.tsv")
    out = [Recording(data / "v2_dev" / r["file"], r["reference"], "v2_dev") for r in dev]
    out += [
        Recording(data / "read_speech_en" / r["file"], r["reference"], "older")
        for r in tsv(data / "read_speech_en" / "refs.tsv")
    ]
    for audio, text in (
        ("jfk_public_domain/jfk.flac", "jfk_public_domain/jfk.txt"),
        ("diar_pyannote_sample_2spk/sample.wav", "diar_pyannote_sample_2spk/sample.txt"),
        ("long_form/librispeech_concat_4spk.wav", "long_form/librispeech_concat_4spk.txt"),
    ):
        out.append(Recording(data / audio, (data / text).read_text(encoding="utf-8"), "older"))
    return out


def errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """Word errors (substitutions + deletions + insertions) and reference words, normalised."""
    ref, hyp = _normalise(reference), _normalise(hypothesis)
    if not ref.strip():
        return 0, 0
    m = jiwer.process_words(ref, hyp)
    return m.substitutions + m.deletions + m.insertions, m.substitutions + m.deletions + m.hits


def ours(engine: FasterWhisperEngine, vad: SileroVad, samples: np.ndarray) -> str:
    """voicestream's file job, language given."""
    try:
        t = transcribe_samples(samples, engine, vad, TranscribeSettings(decode=DecodeOptions(language="en")))
    except NoSpeechError:
        return ""
    return join_words(t.words)


def bare(engine: FasterWhisperEngine, samples: np.ndarray) -> str:
    """faster-whisper as it ships (30 s padded windows, its own VAD), language given."""
    whisper = engine.whisper
    fitted, whisper.margin_frames = whisper.margin_frames, None
    try:
        segments, _ = whisper.transcribe(samples, language="en", beam_size=5, vad_filter=True)
        return "".join(s.text for s in segments).strip()
    finally:
        whisper.margin_frames = fitted


def wer(counts: list[tuple[int, int]], idx: list[int]) -> float:
    errs = sum(counts[i][0] for i in idx)
    words = sum(counts[i][1] for i in idx)
    return errs / max(1, words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", default="base")
    parser.add_argument("--pads", default="0.2,0.3,0.4")
    parser.add_argument("--silences", default="0.5,1,2")
    parser.add_argument("--json", type=Path, help="write every hypothesis and error count here")
    args = parser.parse_args()
    one_blas_thread()  # as the CLI runs
    engine = create_asr_engine(args.model)
    items = recordings(args.data)
    audio = [media.decode(r.path) for r in items]
    default = VadSettings()
    candidates = [
        VadSettings(pad_s=float(p), min_silence_s=float(s))
        for p, s in itertools.product(args.pads.split(","), args.silences.split(","))
    ]
    if default not in candidates:
        candidates.insert(0, default)
    names = [f"pad {c.pad_s:g} s, silence {c.min_silence_s:g} s" for c in candidates]
    counts: dict[str, list[tuple[int, int]]] = {}
    texts: dict[str, list[str]] = {}
    started = time.perf_counter()
    texts["bare faster-whisper"] = [bare(engine, a) for a in audio]
    print(f"bare faster-whisper: {time.perf_counter() - started:.0f} s", flush=True)
    for name, setting in zip(names, candidates, strict=True):
        vad = SileroVad(setting)
        t0 = time.perf_counter()
        texts[name] = [ours(engine, vad, a) for a in audio]
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    for name, hyps in texts.items():
        counts[name] = [errors(r.reference, h) for r, h in zip(items, hyps, strict=True)]
    if args.json:
        files = [str(r.path.relative_to(args.data)) for r in items]
        refs = [r.reference for r in items]
        args.json.write_text(json.dumps({"files": files, "references": refs, "texts": texts, "errors": counts}))

    every = list(range(len(items)))
    groups = {g: [i for i, r in enumerate(items) if r.group == g] for g in ("v2_dev", "older")}
    print(f"\n{len(items)} recordings ({len(groups['v2_dev'])} v2_dev, {len(groups['older'])} older), "
          f"model {args.model}, language given, WER:")  # fmt: skip
    print(f"{'':32} {'v2_dev':>8} {'older':>8} {'all':>8}")
    for name, c in counts.items():
        mark = "  (default)" if name == names[candidates.index(default)] else ""
        print(f"{name:32} {wer(c, groups['v2_dev']):8.2%} {wer(c, groups['older']):8.2%} {wer(c, every):8.2%}{mark}")
    ours_names = names
    fitted = min(ours_names, key=lambda n: (sum(e for e, _ in counts[n]), ours_names.index(n)))
    print(f"fitted on all recordings: {fitted} ({wer(counts[fitted], every):.2%})")
    held_out: list[tuple[int, int]] = []
    chosen: dict[str, int] = {}
    for i in every:
        best = min(ours_names, key=lambda n: (sum(counts[n][j][0] for j in every if j != i), ours_names.index(n)))
        chosen[best] = chosen.get(best, 0) + 1
        held_out.append(counts[best][i])
    print(f"leave-one-recording-out: {wer(held_out, groups['v2_dev']):.2%} v2_dev, "
          f"{wer(held_out, groups['older']):.2%} older, {wer(held_out, every):.2%} all; chosen: {chosen}")  # fmt: skip


if __name__ == "__main__":
    main()
