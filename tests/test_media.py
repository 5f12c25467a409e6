"""Decoding real media in many formats, and the errors for bad input."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_mute_video
from voicestream import media
from voicestream.errors import (
    FfmpegMissingError,
    InputNotFoundError,
    MediaDecodeError,
    NoAudioStreamError,
)


@pytest.mark.parametrize(
    ("rel", "seconds"),
    [
        ("jfk_public_domain/jfk.flac", 11.0),  # 44.1 kHz stereo flac
        ("long_form/apollo11.mp3", 89.2),  # 8 kHz mp3
        ("diar_ami_pyannote_debug/dev00.wav", 30.0),  # float32 wav
        ("video_auto_editor/example.mp4", 42.4),  # 48 kHz AAC in mp4 with video
        ("stereo_2ch_librispeech/stereo_diarization.wav", 5.0),
    ],
)
def test_decode_formats_to_16k_mono(data: Path, rel: str, seconds: float) -> None:
    """Every format comes out as 16 kHz mono float32 of the right length."""
    samples = media.decode(data / rel)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size / 16000 - seconds) < 0.2
    assert 0.005 < float(np.sqrt(np.mean(samples**2))) < 1.0


def test_probe_reports_video(data: Path) -> None:
    """ffprobe information: video present, audio stream details."""
    info = media.probe(data / "video_auto_editor" / "example.mp4")
    assert info.has_video and info.audio_streams == 1 and info.sample_rate == 48000


def test_odd_file_names_are_not_options_or_protocols(data: Path, tmp_path: Path) -> None:
    """Names with a leading dash, spaces, quotes, ';', '$()' and a protocol-like prefix decode."""
    odd = tmp_path / "-i x; $(touch pwned) 'q' \"d\" http:ünï.flac"
    odd.write_bytes((data / "read_speech_en" / "1089-134691-0000.flac").read_bytes())
    assert media.decode(odd).size > 16000
    assert not (tmp_path / "pwned").exists()


def test_missing_file(tmp_path: Path) -> None:
    """A missing path is InputNotFoundError."""
    with pytest.raises(InputNotFoundError, match="not found"):
        media.decode(tmp_path / "nope.wav")


def test_directory_is_not_media(tmp_path: Path) -> None:
    """A directory is InputNotFoundError."""
    with pytest.raises(InputNotFoundError, match="directory"):
        media.decode(tmp_path)


def test_text_file_is_not_media(tmp_path: Path) -> None:
    """A text file with a media extension is MediaDecodeError."""
    bogus = tmp_path / "notes.wav"
    bogus.write_text("this is not audio\n" * 50)
    with pytest.raises(MediaDecodeError):
        media.decode(bogus)


def test_truncated_flac_still_errors_cleanly(data: Path, tmp_path: Path) -> None:
    """A FLAC cut to its first 300 bytes is a clear decode error or decodes nothing, never a crash."""
    cut = tmp_path / "cut.flac"
    cut.write_bytes((data / "read_speech_en" / "1089-134691-0000.flac").read_bytes()[:300])
    try:
        samples = media.decode(cut)
    except MediaDecodeError:
        return
    assert samples.size < 16000


def test_video_without_audio(tmp_path: Path) -> None:
    """A video with no audio stream is NoAudioStreamError."""
    silent_video = make_mute_video(tmp_path / "video_only.mp4")
    with pytest.raises(NoAudioStreamError):
        media.decode(silent_video)


def test_zero_length_wav_decodes_to_nothing(tmp_path: Path) -> None:
    """A valid WAV with no frames decodes to zero samples (the pipeline then reports no speech)."""
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    assert media.decode(empty).size == 0


def test_ffmpeg_missing(monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
    """Without ffmpeg on PATH the error says how to install it."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(FfmpegMissingError, match="apt-get install ffmpeg"):
        media.decode(data / "jfk_public_domain" / "jfk.flac")
