"""Write the dubbed media: video stream copied untouched, the dub as the default audio track
(loudness-normalized on the way), optionally the original audio and soft subtitles."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from voicestream.errors import OutputError
from voicestream.media import find_tool

VIDEO_CONTAINERS = {".mp4": "mov_text", ".m4v": "mov_text", ".mov": "mov_text", ".mkv": "srt", ".webm": "webvtt"}
"""Video output extensions and the subtitle codec each container carries."""
AUDIO_CODECS = {
    ".m4a": ["-c:a", "aac", "-b:a", "192k"], ".aac": ["-c:a", "aac", "-b:a", "192k"],
    ".mp3": ["-c:a", "libmp3lame", "-q:a", "2"], ".wav": ["-c:a", "pcm_s16le"], ".flac": ["-c:a", "flac"],
    ".ogg": ["-c:a", "libopus", "-b:a", "160k"], ".opus": ["-c:a", "libopus", "-b:a", "160k"],
}  # fmt: skip
"""Audio-only output extensions and their encoder arguments."""


def iso639_2(language: str) -> str:
    """ISO 639-2 code (``spa``) for an ISO 639-1 code (``es``), as containers tag tracks; ``und`` if unknown."""
    try:
        import pycountry  # pycountry comes with the dub extra
    except ImportError:
        return "und"
    found = pycountry.languages.get(alpha_2=language)
    return str(getattr(found, "alpha_3", "und")) if found is not None else "und"


def check_output(path: Path, has_video: bool) -> None:
    """Raise :class:`OutputError` when ``path``'s extension cannot hold the result."""
    ext = path.suffix.lower()
    if has_video and ext not in VIDEO_CONTAINERS:
        raise OutputError(
            f"cannot write a video to '{path.name}': use one of {', '.join(VIDEO_CONTAINERS)} "
            f"(or an audio extension, {', '.join(AUDIO_CODECS)}, for the audio alone)"
        )
    if not has_video and ext not in AUDIO_CODECS and ext not in VIDEO_CONTAINERS:
        raise OutputError(f"unknown output extension '{ext}': use one of {', '.join(AUDIO_CODECS)}")


@dataclass(frozen=True, slots=True)
class MuxJob:
    """One mux.

    Attributes:
        source: The input media (its video is stream-copied; its first audio is the original track).
        dub: The dubbed audio (wav, stereo, 48 kHz), as long as the source.
        output: Where to write; the extension picks the container.
        language: ISO 639-1 code of the dub (track tags).
        source_language: ISO 639-1 code of the original audio.
        audio_filter: ffmpeg filter for the dub track (the loudness normalization).
        keep_original: Add the original audio as a second, non-default track.
        subtitles: SRT of the translated text to add as a soft subtitle track, or ``None``.
        video: Whether the source has a video stream to copy.
    """

    source: Path
    dub: Path
    output: Path
    language: str
    source_language: str
    audio_filter: str
    keep_original: bool = False
    subtitles: Path | None = None
    video: bool = True


def mux_argv(job: MuxJob) -> list[str]:
    """The ffmpeg argument list for ``job``."""
    ext = job.output.suffix.lower()
    video = job.video and ext in VIDEO_CONTAINERS
    argv = [find_tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-protocol_whitelist", "file", "-i", f"file:{job.source}", "-i", f"file:{job.dub}"]  # fmt: skip
    if job.subtitles is not None and video:
        argv += ["-i", f"file:{job.subtitles}"]
    if video:
        argv += ["-map", "0:v:0", "-c:v", "copy"]
    argv += ["-map", "1:a:0", "-filter:a:0", job.audio_filter, "-ar:a:0", "48000"]
    codec = ["-c:a", "aac", "-b:a", "192k"] if video else AUDIO_CODECS.get(ext, ["-c:a", "aac", "-b:a", "192k"])
    argv += codec
    argv += ["-metadata:s:a:0", f"language={iso639_2(job.language)}",
             "-metadata:s:a:0", f"title=Dub ({job.language})", "-disposition:a:0", "default"]  # fmt: skip
    if job.keep_original and (video or ext in (".m4a", ".ogg", ".opus")):
        argv += ["-map", "0:a:0", "-c:a:1", "copy" if ext == ".mkv" else codec[1]]
        argv += ["-metadata:s:a:1", f"language={iso639_2(job.source_language)}",
                 "-metadata:s:a:1", f"title=Original ({job.source_language})", "-disposition:a:1", "0"]  # fmt: skip
    if job.subtitles is not None and video:
        argv += ["-map", "2:s:0", "-c:s", VIDEO_CONTAINERS[ext],
                 "-metadata:s:s:0", f"language={iso639_2(job.language)}", "-disposition:s:0", "0"]  # fmt: skip
    if ext in (".mp4", ".m4v", ".mov", ".m4a"):
        argv += ["-movflags", "+faststart"]
    return [*argv, f"file:{job.output}"]


def mux(job: MuxJob) -> None:
    """Run the mux; raise :class:`OutputError` with ffmpeg's reason when it fails."""
    proc = subprocess.run(mux_argv(job), capture_output=True, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip().splitlines()
        raise OutputError(f"ffmpeg could not write {job.output.name}: {reason[-1] if reason else 'unknown error'}")
