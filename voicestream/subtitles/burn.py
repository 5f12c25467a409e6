"""Burning subtitles into the picture (open captions) with ffmpeg's ``subtitles`` filter (libass).

For short-form video whose players show no soft subtitles. The picture is re-encoded (H.264,
``-crf 18``: visually lossless), every audio stream is copied byte for byte, and the result
appears under its name only when complete (a temporary file beside it, then a rename).
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from pathlib import Path

from voicestream.errors import OptionError, OutputError
from voicestream.media import find_tool, probe

BURN_CONTAINERS = (".mp4", ".m4v", ".mov", ".mkv")
"""Output extensions that hold H.264 video and the copied audio."""


def check_burn_output(path: Path) -> None:
    """Raise :class:`OptionError` unless ``path`` names a container :func:`burn_in` writes."""
    if path.suffix.lower() not in BURN_CONTAINERS:
        kinds = ", ".join(BURN_CONTAINERS)
        raise OptionError(f"cannot burn subtitles into '{path.name}': write a video, one of {kinds}")


def burn_argv(source: Path, output: Path, keep_soft: bool = False) -> list[str]:
    """ffmpeg's arguments: the first video stream through the ``subtitles`` filter (the script
    ``subs.ass`` in the working folder, so no path needs filter escaping), all audio copied,
    and with ``keep_soft`` the subtitle tracks copied too (from a source in ``output``'s container)."""
    argv = [find_tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-protocol_whitelist", "file", "-i", f"file:{source}",
            "-map", "0:v:0", "-map", "0:a?", "-vf", "subtitles=filename=subs.ass",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
            "-c:a", "copy", "-map_metadata", "0"]  # fmt: skip
    if keep_soft:
        argv += ["-map", "0:s?", "-c:s", "copy"]
    if output.suffix.lower() in (".mp4", ".m4v", ".mov"):
        argv += ["-movflags", "+faststart"]
    return [*argv, f"file:{output}"]


def burn_in(source: Path, script: str, output: Path, keep_soft: bool = False) -> None:
    """Write ``source`` with the ASS ``script`` burned into its picture to ``output`` (with
    ``keep_soft``, its soft subtitle tracks kept).

    Raises:
        OptionError: ``source`` has no picture, or ``output`` is no video container.
        OutputError: ffmpeg failed (its last line says why: e.g. an audio codec the container
            cannot hold; ``.mkv`` holds any).
    """
    check_burn_output(output)
    if not probe(source).has_video:
        raise OptionError(f"{source.name} has no picture to burn subtitles into")
    with tempfile.TemporaryDirectory(prefix="voicestream-burn-") as work:
        (Path(work) / "subs.ass").write_text(script, encoding="utf-8")
        partial = output.with_name(f".{output.stem}.part{output.suffix}")
        proc = subprocess.run(
            burn_argv(source.resolve(), partial.resolve(), keep_soft), cwd=work, capture_output=True,
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            with contextlib.suppress(OSError):
                partial.unlink()
            reason = proc.stderr.decode(errors="replace").strip().splitlines()
            raise OutputError(f"ffmpeg could not write {output.name}: {reason[-1] if reason else 'unknown error'}")
        partial.replace(output)
