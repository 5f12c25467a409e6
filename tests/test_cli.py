"""The ``voicestream`` command end to end, as a user runs it."""

from __future__ import annotations

import compileall
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_mute_video
from tests.subtitle_checks import parse_srt, parse_vtt, rule_violations
from voicestream.cli import doctor

pytestmark = pytest.mark.models  # runs real models (through the CLI or in-process)

VIDEO_DURATION = 42.45


def voicestream(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "voicestream", *args],
        capture_output=True, text=True, timeout=600, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, pattern: str) -> None:
    """Exit code ``code``, one stderr line matching ``pattern``, no traceback."""
    assert proc.returncode == code, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("voicestream: error:")
    assert pattern in lines[0]
    assert "Traceback" not in proc.stderr


def no_leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_video_to_srt_end_to_end(data: Path, tmp_path: Path) -> None:
    """An mp4 video becomes a publishable SRT whose text matches the speech."""
    out = tmp_path / "example.srt"
    proc = voicestream("transcribe", str(data / "video_auto_editor" / "example.mp4"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    cues = parse_srt(out)
    assert rule_violations(cues, VIDEO_DURATION) == []
    text = " ".join(" ".join(c.lines) for c in cues).lower()
    for phrase in ("example video", "any purpose", "forty seconds", "banana"):
        assert phrase in text.replace("40", "forty")
    banana = [c for c in cues if "banana" in " ".join(c.lines).lower()]
    assert 38.0 < banana[-1].start < 42.0, "the final 'banana' is said at about 40 s"


def test_video_to_vtt_with_tiny(data: Path, tmp_path: Path) -> None:
    """WebVTT output from tiny.en, format taken from the extension, parses back and keeps the rules."""
    out = tmp_path / "example.vtt"
    proc = voicestream(
        "transcribe", str(data / "video_auto_editor" / "example.mp4"), "-o", str(out), "--model", "tiny.en"
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("WEBVTT")
    assert rule_violations(parse_vtt(out), VIDEO_DURATION) == []


def test_json_schema_and_word_times(data: Path, tmp_path: Path) -> None:
    """JSON has the documented fields; word times are monotonic and inside the duration."""
    out = tmp_path / "call.json"
    proc = voicestream("transcribe", str(data / "diar_pyannote_sample_2spk" / "sample.wav"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert set(doc) == {"language", "duration", "model", "speakers", "segments"}
    assert doc["speakers"] == []
    assert doc["language"] == "en" and doc["model"] == "base" and abs(doc["duration"] - 30.0) < 0.01
    prev = 0.0
    for seg in doc["segments"]:
        assert set(seg) == {"start", "end", "text", "speaker", "words"}
        assert seg["speaker"] is None and seg["text"]
        for w in seg["words"]:
            assert set(w) == {"start", "end", "word", "probability", "speaker"}
            assert prev <= w["start"] <= w["end"] <= doc["duration"]
            assert 0.0 <= w["probability"] <= 1.0
            prev = w["start"]
        assert seg["start"] == seg["words"][0]["start"] and seg["end"] == seg["words"][-1]["end"]


def test_stdout_and_explicit_format(data: Path) -> None:
    """``-o - --format txt`` prints the transcript."""
    proc = voicestream(
        "transcribe", str(data / "jfk_public_domain" / "jfk.flac"), "-o", "-", "-f", "txt", "-m", "tiny.en"
    )
    assert proc.returncode == 0, proc.stderr
    assert "ask not what your country can do for you" in proc.stdout.lower()


def test_default_output_name(data: Path, tmp_path: Path) -> None:
    """Without -o, INPUT's stem plus .srt is written in the working directory."""
    proc = voicestream(
        "transcribe", str(data / "read_speech_en" / "1089-134691-0000.flac"), "-m", "tiny.en", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert no_leftovers(tmp_path) == ["1089-134691-0000.srt"]


def test_missing_input(tmp_path: Path) -> None:
    """Exit 3, no output."""
    proc = voicestream("transcribe", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "x.srt"))
    assert_one_line_error(proc, 3, "input not found")
    assert no_leftovers(tmp_path) == []


def test_not_media(tmp_path: Path) -> None:
    """Exit 4 for a file ffmpeg cannot read, no output."""
    bogus = tmp_path / "song.mp3"
    bogus.write_bytes(os.urandom(4096))
    proc = voicestream("transcribe", str(bogus), "-o", str(tmp_path / "x.srt"))
    assert_one_line_error(proc, 4, "song.mp3")
    assert no_leftovers(tmp_path) == ["song.mp3"]


def test_video_without_audio(tmp_path: Path) -> None:
    """Exit 4 with 'no audio stream', no output."""
    video = make_mute_video(tmp_path / "mute.mp4")
    proc = voicestream("transcribe", str(video), "-o", str(tmp_path / "x.srt"))
    assert_one_line_error(proc, 4, "no audio stream")
    assert no_leftovers(tmp_path) == ["mute.mp4"]


def _write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((samples * 32767).astype("<i2").tobytes())


@pytest.mark.parametrize(
    ("name", "samples"),
    [
        ("empty.wav", np.zeros(0, dtype=np.float32)),
        ("silence.wav", np.zeros(16000 * 4, dtype=np.float32)),
        ("hum.wav", 0.01 * np.sin(2 * np.pi * 50 * np.arange(16000 * 4) / 16000).astype(np.float32)),
    ],
)
def test_no_speech(tmp_path: Path, name: str, samples: np.ndarray) -> None:
    """Empty, silent or humming audio: exit 5, no output, no invented text."""
    src = tmp_path / name
    _write_wav(src, samples)
    proc = voicestream("transcribe", str(src), "-o", str(tmp_path / "x.srt"))
    assert_one_line_error(proc, 5, "no ")
    assert no_leftovers(tmp_path) == [name]


def test_unknown_model(data: Path, tmp_path: Path) -> None:
    """Exit 6 naming the available models, no output."""
    proc = voicestream(
        "transcribe", str(data / "jfk_public_domain" / "jfk.flac"), "-o", str(tmp_path / "x.srt"), "-m", "nonsense"
    )
    assert_one_line_error(proc, 6, "unknown model 'nonsense'")
    assert no_leftovers(tmp_path) == []


def test_ffmpeg_missing(data: Path, tmp_path: Path) -> None:
    """Exit 7 with the install hint when ffmpeg is not on PATH."""
    env = {**os.environ, "PATH": str(tmp_path / "empty-bin")}
    proc = voicestream(
        "transcribe", str(data / "jfk_public_domain" / "jfk.flac"), "-o", str(tmp_path / "x.srt"), env=env
    )
    assert_one_line_error(proc, 7, "ffmpeg")
    assert no_leftovers(tmp_path) == []


def test_output_directory_missing(data: Path, tmp_path: Path) -> None:
    """Exit 8 before any work when the output cannot be written."""
    proc = voicestream("transcribe", str(data / "jfk_public_domain" / "jfk.flac"), "-o", str(tmp_path / "no" / "x.srt"))
    assert_one_line_error(proc, 8, "does not exist")


def test_unknown_output_extension(data: Path, tmp_path: Path) -> None:
    """An extension that names no format asks for --format."""
    proc = voicestream("transcribe", str(data / "jfk_public_domain" / "jfk.flac"), "-o", str(tmp_path / "x.docx"))
    assert_one_line_error(proc, 8, "--format")


def test_english_only_model_refuses_translate(data: Path, tmp_path: Path) -> None:
    """tiny.en cannot translate: a clear error, no output."""
    proc = voicestream("transcribe", str(data / "jfk_public_domain" / "jfk.flac"), "-o", str(tmp_path / "x.srt"),
                       "-m", "tiny.en", "--task", "translate")  # fmt: skip
    assert_one_line_error(proc, 2, "English-only")
    assert no_leftovers(tmp_path) == []


def test_unknown_language(data: Path, tmp_path: Path) -> None:
    """An unknown language code is exit 2 listing the valid codes, no output."""
    proc = voicestream(
        "transcribe", str(data / "jfk_public_domain" / "jfk.flac"), "-o", str(tmp_path / "x.srt"), "-l", "xx"
    )
    assert_one_line_error(proc, 2, "unknown language code 'xx'")
    assert no_leftovers(tmp_path) == []


def test_doctor_reports_speculative_api_and_ffmpeg() -> None:
    """doctor finds the crisperwhisper CTranslate2 build, ffmpeg and both embedded models."""
    proc = voicestream("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "speculative decoding API: yes" in proc.stdout
    assert "ffmpeg: yes" in proc.stdout
    assert "ctranslate2-crisperwhisper   4.7.1" in proc.stdout
    # the README installs with --compile-bytecode: no command compiles the packages again
    assert "python bytecode cached (speed): yes" in proc.stdout, proc.stdout
    assert "all good" in proc.stdout


def test_doctor_finds_packages_without_cached_bytecode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package with no cached bytecode is named (with the fix) until it is compiled; one that is
    not installed is left out."""
    package = tmp_path / "vs_uncached_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    ok, note = doctor.bytecode_status(["vs_uncached_pkg", "vs_not_installed_pkg"])
    assert not ok and note.startswith("vs_uncached_pkg have none and PYTHONDONTWRITEBYTECODE is set"), note
    assert "--compile-bytecode" in note and "vs_not_installed_pkg" not in note
    assert compileall.compile_dir(str(package), quiet=1)
    assert doctor.bytecode_status(["vs_uncached_pkg", "vs_not_installed_pkg"]) == (
        True, "the installed packages' bytecode is cached")  # fmt: skip


def test_models_list() -> None:
    """models list shows the embedded models as available and the default."""
    proc = voicestream("models", "list")
    assert proc.returncode == 0
    rows = {ln.split()[0]: ln for ln in proc.stdout.splitlines() if ln and not ln.startswith(("NAME", " ", "*"))}
    assert "yes" in rows["tiny.en"] and "yes" in rows["base*"]
    assert "no" in rows["large-v3"].split()[1]


def test_progress_bar_on_a_terminal(data: Path, tmp_path: Path) -> None:
    """With stderr on a terminal, a progress bar over audio seconds is drawn and the run succeeds."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "voicestream", "transcribe", str(data / "jfk_public_domain" / "jfk.flac"),
         "-o", str(tmp_path / "jfk.srt"), "-m", "tiny.en"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower, timeout=600, check=False,
    )  # fmt: skip
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert proc.returncode == 0
    assert b"transcribing" in drawn and b"s audio" in drawn
    assert (tmp_path / "jfk.srt").is_file()


def test_draft_model_json_reports_speculative_counts(data: Path, tmp_path: Path) -> None:
    """--draft-model decodes greedily with drafts and reports the counts in JSON and on stderr."""
    jfk = str(data / "jfk_public_domain" / "jfk.flac")
    out = tmp_path / "jfk.json"
    proc = voicestream("transcribe", jfk, "-o", str(out), "--draft-model", "tiny.en", "--draft-policy", "always")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    spec = doc["speculative"]
    assert set(spec) == {"drafted", "accepted", "acceptance_rate", "verify_passes", "hypothesis"}
    assert spec["drafted"] > 0 and 0 < spec["accepted"] <= spec["drafted"] and spec["verify_passes"] > 0
    assert spec["acceptance_rate"] == pytest.approx(spec["accepted"] / spec["drafted"], abs=1e-4)
    assert "ask not what your country can do for you" in " ".join(s["text"] for s in doc["segments"]).lower()
    assert "draft model tiny.en on: expected" in proc.stderr and "drafted tokens accepted" in proc.stderr


def test_draft_model_is_greedy_only(data: Path, tmp_path: Path) -> None:
    jfk = str(data / "jfk_public_domain" / "jfk.flac")
    proc = voicestream("transcribe", jfk, "-o", str(tmp_path / "x.srt"), "--draft-model", "tiny.en", "--beam-size", "5")
    assert_one_line_error(proc, 2, "--draft-model needs --beam-size 1")
    proc = voicestream(
        "transcribe", jfk, "-o", str(tmp_path / "x.srt"), "--draft-model", "tiny.en", "--draft-min-tokens", "9"
    )
    assert_one_line_error(proc, 2, "--draft-tokens")
    proc = voicestream("transcribe", jfk, "-o", str(tmp_path / "x.srt"), "--draft-model", "no-such-model")
    assert proc.returncode == 6 and "no-such-model" in proc.stderr
    assert no_leftovers(tmp_path) == []
