"""Custom vocabulary on the dev recordings: are listed terms heard, and does the WER move?

For each English dev utterance (``v2_dev/asr_en.tsv``: LibriSpeech test-other, Earnings-22,
EDACC, Common Voice, MFA) the "terms" are what a user would list for it: the reference's rare
words, chosen without looking at any transcript (at least five letters and at least three
Whisper BPE tokens in lower case with a leading space: names such as "Merneptah", jargon
such as "EBITDA"; at most ten). Three runs of the file path (VAD windows, beam 5) on the same engine:

- none: no vocabulary (the bare engine);
- own: each utterance with its own terms;
- unrelated: each utterance with the terms of another utterance (the next one with terms),
  which must not be written (leaks) nor raise the WER.

Prints per run: WER (Whisper's English normaliser) and, for the own terms, the share heard
(the term's normalised words appear in the transcript).

    uv run python benchmarks/vocabulary.py [--model tiny.en] [--beam 5]
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import replace
from pathlib import Path

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

from voicestream import media
from voicestream.asr import DecodeOptions
from voicestream.asr.vocabulary import vocabulary_text
from voicestream.pipeline import TranscribeSettings, transcribe_samples
from voicestream.registry import create_asr_engine, create_vad

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "v2_dev"
norm = EnglishTextNormalizer()


def rare_words(reference: str, tokenizer: object) -> list[str]:
    """The reference's words a user would list: 5+ letters, 3+ BPE tokens in lower case."""
    out: list[str] = []
    for raw in reference.split():
        word = "".join(ch for ch in raw if ch.isalpha() or ch == "'").strip("'")
        if len(word) < 5 or word.lower() in (w.lower() for w in out):
            continue
        if len(tokenizer.encode(" " + word.lower(), add_special_tokens=False).ids) >= 3:  # type: ignore[attr-defined]
            out.append(word.capitalize() if word.isupper() else word)  # LibriSpeech is upper case
    return out[:10]


def utterance_wer(reference: str, text: str) -> float:
    return float(jiwer.wer(norm(reference), norm(text) or "-"))


def heard(term: str, text: str) -> bool:
    return f" {norm(term)} " in f" {norm(text)} "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--beam", type=int, default=5)
    args = parser.parse_args()
    engine = create_asr_engine(args.model)
    vad = create_vad()
    tokenizer = engine.whisper_model.hf_tokenizer
    with (DEV / "asr_en.tsv").open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    items = [(DEV / r["file"], r["reference"], rare_words(r["reference"], tokenizer)) for r in rows]
    with_terms = [i for i, (_, _, terms) in enumerate(items) if terms]
    unrelated = {i: items[with_terms[(k + 1) % len(with_terms)]][2] for k, i in enumerate(with_terms)}
    audio = [media.decode(path) for path, _, _ in items]
    base = TranscribeSettings(decode=DecodeOptions(language="en", beam_size=args.beam))
    print(f"{len(items)} utterances, {sum(a.size for a in audio) / 16000 / 60:.1f} min, {len(with_terms)} with "
          f"terms ({sum(len(t) for _, _, t in items)} terms), model {args.model}, beam {args.beam}")  # fmt: skip
    texts: dict[str, list[str]] = {}
    for run in ("none", "own", "unrelated"):
        started = time.perf_counter()
        out: list[str] = []
        for i, samples in enumerate(audio):
            terms = {"none": [], "own": items[i][2], "unrelated": unrelated.get(i, [])}[run]
            settings = replace(base, decode=replace(base.decode, hotwords=vocabulary_text(terms)))
            try:
                out.append(" ".join(s.text for s in transcribe_samples(samples, engine, vad, settings).segments))
            except Exception as e:
                print(f"  {items[i][0].name}: {e}")
                out.append("")
        texts[run] = out
        score = jiwer.wer([norm(r) for _, r, _ in items], [norm(t) or "-" for t in out])
        line = f"  {run:<10} WER {score:.2%} ({time.perf_counter() - started:.0f} s)"
        if run != "unrelated":
            found = sum(heard(t, out[i]) for i in with_terms for t in items[i][2])
            line += f" | own terms heard {found}/{sum(len(items[i][2]) for i in with_terms)}"
        else:
            leaks = [(items[i][0].name, t) for i in with_terms for t in unrelated[i]
                     if heard(t, out[i]) and not heard(t, items[i][1])]  # fmt: skip
            line += f" | unrelated terms written though not spoken: {len(leaks)} {leaks}"
            worse = [(items[i][0].name, round(utterance_wer(items[i][1], out[i])
                      - utterance_wer(items[i][1], texts["none"][i]), 3)) for i in with_terms]  # fmt: skip
            line += f" | WER change per utterance: {[w for w in worse if w[1]]}"
        print(line, flush=True)
    gained = [(items[i][0].name, t) for i in with_terms for t in items[i][2]
              if heard(t, texts["own"][i]) and not heard(t, texts["none"][i])]  # fmt: skip
    lost = [(items[i][0].name, t) for i in with_terms for t in items[i][2]
            if heard(t, texts["none"][i]) and not heard(t, texts["own"][i])]  # fmt: skip
    print(f"terms heard only with the vocabulary: {gained}")
    print(f"terms heard only without it: {lost}")


if __name__ == "__main__":
    main()
