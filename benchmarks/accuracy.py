"""Accuracy of every task, voicestream next to the bare engine it wraps, in the same run.

Over a data folder laid out as ``../shared/data/v2_dev`` (``asr_en.tsv``, ``translate.tsv``,
``diar.tsv``; see its MANIFEST.md), with the same model and compute type on both sides:

- **file ASR**: voicestream's file job (``transcribe``: VAD windows, guards, detection)
  against ``WhisperModel.transcribe(beam_size=5, vad_filter=True)``, both detecting the
  language (``auto``) and both told it (``given``); WER with jiwer after Whisper's English
  normalizer, per corpus and overall; language-detection accuracy both ways;
- **streaming ASR**: the live policy replayed on each recording (faster than real time,
  same updates as a real-time client) against the file job;
- **translation**: ``transcribe --translate-to en`` against
  ``WhisperModel.transcribe(task="translate", beam_size=5)``; corpus chrF (sacrebleu) per
  language and overall;
- **diarization**: the embedded diarizer against pyannote's ``SpeakerDiarization`` code on
  the same models at pyannote 3.1's settings, and ``senko.Diarizer``; DER (pyannote.metrics,
  collar 0 and 0.25 s) per recording and time-weighted; the live labels of a replayed
  session and its end-of-stream pass.

Prints tables and writes every figure to ``--json``.

    uv run python benchmarks/accuracy.py [--data DIR] [--model base] [--tasks asr,stream,translate,diar]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
from whisper_normalizer.english import EnglishTextNormalizer

from voicestream import media
from voicestream.asr import DecodeOptions, FasterWhisperEngine
from voicestream.messages import SpeakerTurn, join_words
from voicestream.pipeline import TranscribeSettings, transcribe_samples, translate_transcript
from voicestream.registry import create_asr_engine, create_vad
from voicestream.vad import SileroVad

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "v2_dev"
_normalise = EnglishTextNormalizer()
SEED = 1


def rows(data: Path, name: str) -> list[dict[str, str]]:
    """The TSV's rows (UTF-8, tab-separated, no quoting)."""
    path = data / name
    if not path.is_file():
        return []
    return list(csv.DictReader(path.open(encoding="utf-8"), delimiter="\t", quoting=csv.QUOTE_NONE))


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER after Whisper's English normalizer (empty references skipped)."""
    pairs = [(_normalise(r), _normalise(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r.strip()]
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs])) if pairs else float("nan")


def seed() -> None:
    """The sampling seed before every decode of an item. CTranslate2 seeds a thread's
    sampler only at its first sample (there is no per-call seed), so a run repeats itself,
    but a temperature fallback draws after every sample before it: compare within a run."""
    import ctranslate2

    ctranslate2.set_random_seed(SEED)


def bare_text(engine: FasterWhisperEngine, samples: np.ndarray, language: str | None, task: str) -> tuple[str, str]:
    """faster-whisper on its own, as it ships (every window padded to 30 s, where
    voicestream fits the encoder window to the audio): text and the language it used."""
    seed()
    whisper = engine.whisper
    fitted, whisper.margin_frames = whisper.margin_frames, None
    try:
        segments, info = whisper.transcribe(samples, language=language, task=task, beam_size=5, vad_filter=True)
        return "".join(s.text for s in segments).strip(), str(info.language)
    finally:
        whisper.margin_frames = fitted


def ours_transcript(engine: FasterWhisperEngine, vad: SileroVad, samples: np.ndarray, language: str | None) -> Any:
    """voicestream's file job (as ``transcribe`` runs it); ``None`` when it hears no speech."""
    from voicestream.errors import NoSpeechError

    seed()
    try:
        return transcribe_samples(samples, engine, vad, TranscribeSettings(decode=DecodeOptions(language=language)))
    except NoSpeechError:
        return None


def file_asr(data: Path, engine: FasterWhisperEngine, vad: SileroVad, stream: bool) -> dict[str, Any]:
    items = rows(data, "asr_en.tsv")
    refs = [r["reference"] for r in items]
    out: dict[str, Any] = {"items": len(items), "per_corpus": {}}
    hyps: dict[str, list[str]] = defaultdict(list)
    right: dict[str, int] = defaultdict(int)
    wrong: list[dict[str, str]] = []
    for r in items:
        samples = media.decode(str(data / r["file"]))
        for setting, language in (("auto", None), ("given", "en")):
            t = ours_transcript(engine, vad, samples, language)
            hyps[f"voicestream/{setting}"].append(join_words(t.words) if t else "")
            text, detected = bare_text(engine, samples, language, "transcribe")
            hyps[f"faster-whisper/{setting}"].append(text)
            if setting == "auto":
                ours_lang = t.language if t else "none"
                right["voicestream"] += ours_lang == "en"
                right["faster-whisper"] += detected == "en"
                if "en" not in (ours_lang, detected) or ours_lang != detected:
                    wrong.append({"file": r["file"], "voicestream": ours_lang, "faster-whisper": detected})
        if stream:
            from voicestream.live.replay import replay

            seed()
            first, session = replay(engine, samples)
            hyps["voicestream-live/auto"].append(join_words(list(session.final_words)))
            hyps["voicestream-live-unrevised/auto"].append(join_words([w for f in first for w in f.words]))
        print(f"  {r['file']}", flush=True)
    out["wer"] = {name: wer(refs, h) for name, h in hyps.items()}
    corpora = sorted({r["corpus"] for r in items})
    for corpus in corpora:
        idx = [i for i, r in enumerate(items) if r["corpus"] == corpus]
        out["per_corpus"][corpus] = {
            "items": len(idx),
            **{name: wer([refs[i] for i in idx], [h[i] for i in idx]) for name, h in hyps.items()},
        }
    out["language_right"] = dict(right)
    out["hypotheses"] = {"files": [r["file"] for r in items], "references": refs, **hyps}
    out["language_differences"] = wrong
    return out


def translation(data: Path, engine: FasterWhisperEngine, vad: SileroVad) -> dict[str, Any]:
    import sacrebleu

    from voicestream.translate.choose import choose

    items = rows(data, "translate.tsv")
    hyps: dict[str, list[str]] = defaultdict(list)
    translator_name = ""
    for r in items:
        samples = media.decode(str(data / r["file"]))
        t = ours_transcript(engine, vad, samples, None)
        if t is None:
            hyps["voicestream"].append("")
        else:
            translator = choose(t.language, "en", None, engine)
            translator_name = translator.name
            seed()
            done = translate_transcript(t, samples, translator, "en")
            hyps["voicestream"].append(" ".join((s.translation or "").strip() for s in done.segments).strip())
        hyps["faster-whisper"].append(bare_text(engine, samples, None, "translate")[0])
        print(f"  {r['file']}", flush=True)
    refs = [r["translation_en"] for r in items]
    out: dict[str, Any] = {"items": len(items), "translator": translator_name, "chrf": {}, "per_language": {}}
    out["hypotheses"] = {"files": [r["file"] for r in items], "references": refs, **hyps}
    for name, h in hyps.items():
        out["chrf"][name] = float(sacrebleu.corpus_chrf(h, [refs]).score)
    for lang in sorted({r["lang"] for r in items}):
        idx = [i for i, r in enumerate(items) if r["lang"] == lang]
        chrf = {n: sacrebleu.corpus_chrf([h[i] for i in idx], [[refs[i] for i in idx]]).score for n, h in hyps.items()}
        out["per_language"][lang] = {"items": len(idx), **{n: float(v) for n, v in chrf.items()}}
    return out


def diarization(data: Path, engine: FasterWhisperEngine, live: bool) -> dict[str, Any]:
    from voicestream.diarize.embedded import PYANNOTE_31_THRESHOLD, embedded_pipeline
    from voicestream.diarize.engine import PyannoteDiarizer, load_diarizer
    from voicestream.diarize.scoring import load_reference, score

    ours = load_diarizer(None, None, "cpu")
    plain = PyannoteDiarizer(embedded_pipeline(PYANNOTE_31_THRESHOLD, batch_size=1), "pyannote")
    systems: dict[str, Any] = {"voicestream": ours, "pyannote": plain}
    try:
        import senko

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            systems["senko"] = senko.Diarizer(device="cpu", warmup=False, quiet=True)
    except Exception as e:  # senko is a reference only: say why it is missing
        print(f"  senko unavailable: {type(e).__name__}: {e}")
    per: dict[str, dict[str, Any]] = {}
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])  # error s, reference s
    for r in rows(data, "diar.tsv"):
        samples = media.decode(str(data / r["file"]))
        duration = samples.size / 16000
        reference = load_reference(data / r["rttm"])
        name = Path(r["file"]).stem
        per[name] = {"speakers": int(r["n_speakers"])}
        for system, diarizer in systems.items():
            if system == "senko":
                got = diarizer.diarize_samples(samples) or {}  # None: its VAD heard no speech
                turns = [SpeakerTurn(s["start"], s["end"], str(s["speaker"])) for s in got.get("merged_segments") or []]
            else:
                turns = list(diarizer.diarize(samples).turns)
            s = score(reference, turns, duration)
            per[name][system] = {"der": s.der, "der_collar": s.der_collar, "found": len({t.speaker for t in turns})}
            totals[system][0] += s.der * s.reference_s
            totals[system][1] += s.reference_s
        if live:
            from voicestream.diarize.live import DiarizationModels, LiveDiarizer
            from voicestream.live.replay import replay

            speakers = LiveDiarizer(DiarizationModels(ours))
            _, session = replay(engine, samples, diarizer=speakers)
            s = score(reference, speakers.turns, duration)
            per[name]["live"] = {"der": s.der, "der_collar": s.der_collar}
            totals["live"][0] += s.der * s.reference_s
            totals["live"][1] += s.reference_s
            session.correct_speakers()
            s = score(reference, session.speaker_turns, duration)
            per[name]["live+second pass"] = {"der": s.der, "der_collar": s.der_collar}
            totals["live+second pass"][0] += s.der * s.reference_s
            totals["live+second pass"][1] += s.reference_s
        print(f"  {r['file']}", flush=True)
    return {"per_recording": per, "der_time_weighted": {k: e / ref for k, (e, ref) in totals.items() if ref}}


def report(results: dict[str, Any]) -> None:
    if "asr" in results:
        a = results["asr"]
        print(f"\nfile ASR, {a['items']} English utterances: WER")
        names = list(a["wer"])
        print(f"{'corpus':28s} {'n':>3s} " + " ".join(f"{n:>24s}" for n in names))
        for corpus, v in a["per_corpus"].items():
            print(f"{corpus[:28]:28s} {v['items']:3d} " + " ".join(f"{v[n]:24.2%}" for n in names))
        print(f"{'ALL':28s} {a['items']:3d} " + " ".join(f"{a['wer'][n]:24.2%}" for n in names))
        print(f"language detection (auto), English found: {a['language_right']} of {a['items']}")
        for d in a["language_differences"]:
            print(f"  {d}")
    if "translate" in results:
        t = results["translate"]
        print(f"\ntranslation into English, {t['items']} clips: chrF (voicestream with {t['translator']})")
        for lang, v in t["per_language"].items():
            print(f"  {lang:4s} {v['items']:3d} " + " ".join(f"{n} {v[n]:.1f}" for n in t["chrf"]))
        print("  ALL      " + " ".join(f"{n} {v:.1f}" for n, v in t["chrf"].items()))
    if "diar" in results:
        d = results["diar"]
        print("\ndiarization: DER (collar 0 / 0.25 s), speakers found")
        for rec, v in d["per_recording"].items():
            cells = [f"{k} {x['der']:.3f}/{x['der_collar']:.3f}" + (f" ({x['found']})" if "found" in x else "")
                     for k, x in v.items() if isinstance(x, dict)]  # fmt: skip
            print(f"  {rec:8s} {v['speakers']} spk  " + "  ".join(cells))
        print("  time-weighted: " + "  ".join(f"{k} {x:.3f}" for k, x in d["der_time_weighted"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", default="base")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--tasks", default="asr,stream,translate,diar")
    parser.add_argument("--json", type=Path, default=Path("accuracy.json"))
    args = parser.parse_args()
    tasks = set(args.tasks.split(","))
    engine = create_asr_engine(args.model, "cpu", args.compute_type)
    vad = create_vad()
    results: dict[str, Any] = {"model": args.model, "compute_type": args.compute_type, "data": str(args.data)}
    started = time.perf_counter()
    jobs: list[tuple[str, bool, Callable[[], dict[str, Any]]]] = [
        ("asr", bool(tasks & {"asr", "stream"}), lambda: file_asr(args.data, engine, vad, "stream" in tasks)),
        ("translate", "translate" in tasks, lambda: translation(args.data, engine, vad)),
        ("diar", "diar" in tasks, lambda: diarization(args.data, engine, "stream" in tasks)),
    ]
    for name, wanted, job in jobs:
        if not wanted:
            continue
        print(name)
        results[name] = job()
        results["wall_s"] = time.perf_counter() - started
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")  # each task kept
    report(results)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
