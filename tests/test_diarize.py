"""Speaker diarization on real recordings, scored with pyannote.metrics against reference RTTM.

Thresholds are the values measured here (int8 base, 2 cores) plus a small margin; see the
diarization table of docs/benchmarks.md. DER is given without collar and with the standard
0.25 s collar.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest

from tests.test_cli import assert_one_line_error, voicestream
from voicestream import media
from voicestream.asr import FasterWhisperEngine
from voicestream.diarize.base import SpeakerCount
from voicestream.diarize.engine import PyannoteDiarizer
from voicestream.diarize.scoring import load_reference, score, word_accuracy
from voicestream.messages import Word
from voicestream.pipeline import label_speakers, transcribe_samples
from voicestream.vad import SileroVad

pytestmark = pytest.mark.models  # runs real models (through the CLI or in-process)

# recording, speakers in it, DER limit without collar, with collar; measured: in the comment
RECORDINGS = [
    ("diar_pyannote_sample_2spk/sample", 2, 0.10, 0.05),  # 0.056, 0.000 (phone call)
    ("long_form/librispeech_concat_4spk", 4, 0.10, 0.05),  # 0.065, 0.025 (read speech, 4 voices)
    ("diar_ami_pyannote_debug/dev00", 2, 0.41, 0.32),  # 0.352, 0.270 (meeting)
    ("diar_ami_pyannote_debug/tst00", None, 0.53, 0.51),  # 0.474, 0.456 (4 voices, 18 s of 30 s overlapped)
    ("diar_ami_pyannote_debug/tst01", None, 0.70, 0.55),  # 0.635, 0.489 (6 s of speech in 30 s)
]


@pytest.mark.parametrize(("name", "speakers", "max_der", "max_der_collar"), RECORDINGS)
@pytest.mark.slow
def test_embedded_pipeline_der(
    data: Path, diarizer: PyannoteDiarizer, name: str, speakers: int | None, max_der: float, max_der_collar: float
) -> None:
    samples = media.decode(data / f"{name}.wav")
    result = diarizer.diarize(samples)
    measured = score(load_reference(data / f"{name}.rttm"), result.turns, samples.size / 16000)
    assert measured.der <= max_der and measured.der_collar <= max_der_collar, measured
    if speakers is not None:
        assert len(result.speakers) == speakers
    assert all(0 <= t.start_s < t.end_s <= samples.size / 16000 for t in result.turns)
    exclusive = sorted(result.exclusive, key=lambda t: t.start_s)
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in itertools.pairwise(exclusive))


@pytest.mark.slow
def test_speaker_counts_are_respected(data: Path, diarizer: PyannoteDiarizer) -> None:
    """Four readers: asking for exactly 3, or at most 2, is obeyed; dev00 with its true count of 2."""
    samples = media.decode(data / "long_form" / "librispeech_concat_4spk.wav")
    assert len(diarizer.diarize(samples, SpeakerCount(num=3)).speakers) == 3
    assert len(diarizer.diarize(samples, SpeakerCount(max=2)).speakers) == 2
    meeting = media.decode(data / "diar_ami_pyannote_debug" / "dev00.wav")
    reference = load_reference(data / "diar_ami_pyannote_debug" / "dev00.rttm")
    two = diarizer.diarize(meeting, SpeakerCount(num=2))
    assert len(two.speakers) == 2 and score(reference, two.turns, 30.0).der <= 0.45


@pytest.mark.slow
def test_words_go_to_their_speakers_in_a_four_voice_recording(
    data: Path, base_engine: FasterWhisperEngine, vad: SileroVad, diarizer: PyannoteDiarizer
) -> None:
    """87 s of four LibriSpeech readers: nearly every word is attributed to its reader."""
    samples = media.decode(data / "long_form" / "librispeech_concat_4spk.wav")
    transcript = label_speakers(transcribe_samples(samples, base_engine, vad), diarizer.diarize(samples))
    accuracy, checked = word_accuracy(load_reference(data / "long_form" / "librispeech_concat_4spk.rttm"),
                                      transcript.words)  # fmt: skip
    assert checked > 200 and accuracy >= 0.97, (accuracy, checked)
    assert all(s.speaker is not None and {w.speaker for w in s.words} == {s.speaker} for s in transcript.segments)


@pytest.mark.slow
def test_cli_diarize_json_labels_every_word(data: Path, tmp_path: Path) -> None:
    """The phone call: two speakers, every word labelled, words right against the reference turns."""
    out = tmp_path / "call.json"
    proc = voicestream(
        "transcribe", str(data / "diar_pyannote_sample_2spk" / "sample.wav"), "--diarize", "-o", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 speakers" in proc.stderr
    doc = json.loads(out.read_text())
    assert doc["speakers"] == ["Speaker 1", "Speaker 2"]
    words = [Word(w["start"], w["end"], w["word"], 0.0, w["speaker"]) for s in doc["segments"] for w in s["words"]]
    assert all(w.speaker in doc["speakers"] for w in words)
    assert all(w["speaker"] == s["speaker"] for s in doc["segments"] for w in s["words"])
    accuracy, checked = word_accuracy(load_reference(data / "diar_pyannote_sample_2spk" / "sample.rttm"), words)
    assert checked > 50 and accuracy >= 0.9, (accuracy, checked)  # measured 0.94


@pytest.mark.slow
def test_cli_rttm_scores_against_the_reference(data: Path, tmp_path: Path) -> None:
    """``--format rttm`` (diarization implied) writes standard RTTM that pyannote reads back."""
    out = tmp_path / "dev00.rttm"
    proc = voicestream("transcribe", str(data / "diar_ami_pyannote_debug" / "dev00.wav"), "--num-speakers", "2",
                       "-o", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    hypothesis = load_reference(out)
    assert hypothesis.uri == "dev00" and len(hypothesis.labels()) == 2
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference = load_reference(data / "diar_ami_pyannote_debug" / "dev00.rttm")
    assert DiarizationErrorRate()(reference, hypothesis) <= 0.45


@pytest.mark.network("asks for a hub pipeline offline: one look-up, then a model error")
def test_cli_hub_pipeline_offline_is_a_model_error(data: Path, tmp_path: Path) -> None:
    """A gated hub pipeline with no network: exit 6 and one line saying what to do, no output file."""
    proc = voicestream(
        "transcribe", str(data / "jfk_public_domain" / "jfk.flac"), "-o", str(tmp_path / "x.srt"),
        "--diarize-model", "pyannote/speaker-diarization-community-1",
        env={**os.environ, "HF_ENDPOINT": "http://unreachable.invalid", "HF_HOME": str(tmp_path / "hf")},
    )  # fmt: skip
    assert_one_line_error(proc, 6, "cannot load diarization pipeline")
    assert not (tmp_path / "x.srt").exists()


def test_cli_conflicting_speaker_counts_are_option_errors(data: Path) -> None:
    proc = voicestream("transcribe", str(data / "jfk_public_domain" / "jfk.flac"), "--diarize",
                       "--num-speakers", "2", "--max-speakers", "3")  # fmt: skip
    assert_one_line_error(proc, 2, "either --num-speakers or --min/--max-speakers")
