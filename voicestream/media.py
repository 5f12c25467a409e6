"""Decode any media file ffmpeg understands into 16 kHz mono float32.

ffmpeg and ffprobe always run with an argument list (never a shell string), with
``-nostdin``, on a ``file:`` URL of the absolute path (so names starting with ``-``
or containing ``:`` are never read as options or protocols) and with the ``file``
protocol alone whitelisted (no network, no nested playlists).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from voicestream.errors import (
    FfmpegMissingError,
    InputNotFoundError,
    MediaDecodeError,
    NoAudioStreamError,
)
from voicestream.timebase import SAMPLE_RATE

_INSTALL_HINT = "install it (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)"


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What ffprobe says about a file.

    Attributes:
        path: Absolute path of the file.
        duration_s: Container duration (s), 0.0 when unknown.
        audio_streams: Number of audio streams.
        has_video: Whether a (non-cover-art) video stream exists.
        sample_rate: Sample rate (Hz) of the first audio stream, 0 when unknown.
        channels: Channel count of the first audio stream, 0 when unknown.
    """

    path: Path
    duration_s: float
    audio_streams: int
    has_video: bool
    sample_rate: int
    channels: int


def find_tool(name: str) -> str:
    """Absolute path of ``ffmpeg``/``ffprobe``, or raise :class:`FfmpegMissingError`."""
    found = shutil.which(name)
    if found is None:
        raise FfmpegMissingError(f"{name} was not found on PATH; {_INSTALL_HINT}")
    return found


def check_input(path: str | os.PathLike[str]) -> Path:
    """Absolute path of a readable regular file, or raise :class:`InputNotFoundError`."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputNotFoundError(f"input not found: {p}")
    if p.is_dir():
        raise InputNotFoundError(f"input is a directory, not a media file: {p}")
    if not os.access(p, os.R_OK):
        raise InputNotFoundError(f"input is not readable (permission denied): {p}")
    return p.resolve()


def _file_url(path: Path) -> str:
    return "file:" + str(path)


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Inspect ``path`` with ffprobe.

    Raises:
        InputNotFoundError, FfmpegMissingError, MediaDecodeError, NoAudioStreamError.
    """
    p = check_input(path)
    argv = [
        find_tool("ffprobe"), "-hide_banner",
        "-v", "error", "-protocol_whitelist", "file",
        "-print_format", "json", "-show_streams", "-show_format", _file_url(p),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise MediaDecodeError(f"not a media file ffmpeg can read: {p.name}: {_last_line(proc.stderr)}")
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise MediaDecodeError(f"ffprobe gave unreadable output for {p.name}") from e
    streams = info.get("streams", [])
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    video = [
        s for s in streams
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]  # fmt: skip
    if not audio:
        raise NoAudioStreamError(f"no audio stream in {p.name}")
    first = audio[0]
    return MediaInfo(
        path=p,
        duration_s=_float(info.get("format", {}).get("duration")),
        audio_streams=len(audio),
        has_video=bool(video),
        sample_rate=int(_float(first.get("sample_rate"))),
        channels=int(first.get("channels") or 0),
    )


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def decode(path: str | os.PathLike[str], sample_rate: int = SAMPLE_RATE) -> npt.NDArray[np.float32]:
    """Decode the first audio stream of ``path``, downmixed and resampled.

    Returns:
        float32 samples, shape ``(n_samples,)``, mono at ``sample_rate`` (Hz), in [-1, 1].

    Raises:
        InputNotFoundError, FfmpegMissingError, MediaDecodeError, NoAudioStreamError.
    """
    return _decode(path, sample_rate, 1)


def decode_stereo(path: str | os.PathLike[str], sample_rate: int) -> npt.NDArray[np.float32]:
    """Decode the first audio stream of ``path`` as stereo (mono is duplicated, more channels
    are downmixed) at ``sample_rate`` (Hz): float32 ``(2, n_samples)`` in [-1, 1]."""
    return _decode(path, sample_rate, 2).reshape(-1, 2).T.copy()


def _decode(path: str | os.PathLike[str], sample_rate: int, channels: int) -> npt.NDArray[np.float32]:
    info = probe(path)
    argv = [
        find_tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-protocol_whitelist", "file", "-i", _file_url(info.path),
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-ac", str(channels), "-ar", str(sample_rate), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1",
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise MediaDecodeError(f"could not decode audio of {info.path.name}: {_last_line(proc.stderr)}")
    usable = len(proc.stdout) - len(proc.stdout) % (4 * channels)
    samples = np.frombuffer(proc.stdout[:usable], dtype=np.float32).copy()
    np.nan_to_num(samples, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(samples, -1.0, 1.0, out=samples)
    return samples
