"""ffmpeg/ffprobe checks of written videos: streams, packet hashes, decoded frames."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def streams(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
                         capture_output=True, check=True, text=True).stdout  # fmt: skip
    found: list[dict[str, Any]] = json.loads(out)["streams"]
    return found


def packet_hash(path: Path, selector: str) -> str:
    """A hash of the packets of the streams ``selector`` picks (``0:a``): equal when copied byte for byte."""
    argv = ["ffmpeg", "-v", "error", "-i", str(path), "-map", selector, "-c", "copy", "-f", "streamhash", "-"]
    return subprocess.run(argv, capture_output=True, check=True, text=True).stdout


def frame(path: Path, at_s: float) -> npt.NDArray[np.int16]:
    """The picture shown at ``at_s`` seconds, RGB, shape ``(height, width, 3)``."""
    info = next(s for s in streams(path) if s["codec_type"] == "video")
    argv = ["ffmpeg", "-v", "error", "-ss", f"{at_s:.3f}", "-i", str(path), "-frames:v", "1",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]  # fmt: skip
    raw = subprocess.run(argv, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(int(info["height"]), int(info["width"]), 3).astype(np.int16)


def plays(path: Path) -> bool:
    """Whether ffmpeg decodes every stream of ``path`` to the end without an error."""
    proc = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True)
    return proc.returncode == 0 and not proc.stderr.strip()


def changed_share(before: npt.NDArray[np.int16], after: npt.NDArray[np.int16]) -> tuple[float, float]:
    """Shares of pixels whose colour moved by more than 40 levels (of 255) in the picture's
    bottom third (where subtitles sit) and its top half (where they do not): text and its
    outline move pixels far, re-encoding noise does not."""
    moved = np.abs(after - before).max(axis=2) > 40
    rows = moved.shape[0]
    return round(float(moved[2 * rows // 3 :].mean()), 5), round(float(moved[: rows // 2].mean()), 5)
