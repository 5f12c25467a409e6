"""EBU R128 loudness: measurement and two-pass normalization with ffmpeg's ``loudnorm``."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from voicestream.errors import MediaDecodeError
from voicestream.media import find_tool


@dataclass(frozen=True, slots=True)
class LoudnessTarget:
    """Integrated loudness (LUFS), true-peak ceiling (dBTP) and loudness range (LU).
    -14 LUFS / -1 dBTP is what YouTube plays back without turning down."""

    integrated: float = -14.0
    true_peak: float = -1.0
    lra: float = 11.0


def _loudnorm_pass(path: Path, target: LoudnessTarget) -> dict[str, str]:
    argv = [
        find_tool("ffmpeg"), "-nostdin", "-hide_banner", "-protocol_whitelist", "file", "-i", f"file:{path}",
        "-map", "0:a:0", "-af",
        f"loudnorm=I={target.integrated}:TP={target.true_peak}:LRA={target.lra}:print_format=json",
        "-f", "null", "-",
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, check=False)
    text = proc.stderr.decode(errors="replace")
    found = re.search(r"\{[^{}]*\"input_i\"[^{}]*\}", text)
    if proc.returncode != 0 or found is None:
        raise MediaDecodeError(f"ffmpeg could not measure the loudness of {path.name}: {text.strip()[-300:]}")
    parsed: dict[str, str] = json.loads(found.group(0))
    return parsed


def integrated_loudness(path: Path) -> float:
    """Integrated loudness (LUFS) of the first audio stream of ``path``."""
    return float(_loudnorm_pass(path, LoudnessTarget())["input_i"])


def loudnorm_filter(path: Path, target: LoudnessTarget | None = None) -> str:
    """The second-pass ``loudnorm`` filter for ``path`` (measured first), linear gain where the
    range allows, so the output lands on ``target.integrated``."""
    t = target or LoudnessTarget()
    m = _loudnorm_pass(path, t)
    return (
        f"loudnorm=I={t.integrated}:TP={t.true_peak}:LRA={t.lra}:linear=true"
        f":measured_I={m['input_i']}:measured_TP={m['input_tp']}:measured_LRA={m['input_lra']}"
        f":measured_thresh={m['input_thresh']}:offset={m['target_offset']}"
    )
