"""Encoder windows fitted to the audio versus padded to 30 s: WER, punctuation and time.

Runs the file pipeline on the read-speech clips, the JFK clip and the two-speaker call
with each encoder-window policy and prints WER (jiwer, Whisper's English normaliser),
the number of punctuation marks produced, and wall time, with ratios against the
padded baseline measured in the same run.

    uv run python benchmarks/fitted_windows.py [--model base] [--margins 100,300]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

from voicestream import media
from voicestream.pipeline import transcribe_samples
from voicestream.registry import create_asr_engine, create_vad

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def corpus() -> list[tuple[str, str]]:
    rows = list(csv.DictReader((DATA / "read_speech_en" / "refs.tsv").open(), delimiter="\t"))
    items = [(str(DATA / "read_speech_en" / r["file"]), r["reference"]) for r in rows]
    items.append((str(DATA / "jfk_public_domain" / "jfk.flac"), (DATA / "jfk_public_domain" / "jfk.txt").read_text()))
    stm = (DATA / "diar_pyannote_sample_2spk" / "sample.txt").read_text()
    items.append((str(DATA / "diar_pyannote_sample_2spk" / "sample.wav"), stm))
    return items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="base")
    parser.add_argument("--margins", default="100,300")
    args = parser.parse_args()
    norm = EnglishTextNormalizer()
    items = [(media.decode(f), ref) for f, ref in corpus()]
    engine = create_asr_engine(args.model)
    vad = create_vad()
    transcribe_samples(items[0][0], engine, vad)  # warm-up
    policies: list[tuple[str, int | None]] = [("padded", None)] + [
        (f"fitted+{m}", int(m)) for m in args.margins.split(",")
    ]
    base_time = None
    for label, margin in policies:
        engine.whisper.margin_frames = margin
        refs, hyps, punct = [], [], 0
        start = time.perf_counter()
        for samples, ref in items:
            text = " ".join(s.text for s in transcribe_samples(samples, engine, vad).segments)
            punct += sum(text.count(p) for p in ".,?!")
            refs.append(norm(ref))
            hyps.append(norm(text))
        elapsed = time.perf_counter() - start
        base_time = base_time or elapsed
        wer = jiwer.wer(refs, hyps)
        ratio = base_time / elapsed
        print(f"{label:<12} WER {wer:6.2%}  punctuation {punct:4d}  time {elapsed:6.1f} s  ({ratio:.2f}x vs padded)")


if __name__ == "__main__":
    main()
