"""The resumable job folder: each stage's result stored under a key of its inputs and options,
so an interrupted or re-run job redoes only what changed."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from voicestream.messages import Segment, SpeakerTurn, Transcript, Word

CACHE_VERSION = 1


def default_root() -> Path:
    """``$XDG_CACHE_HOME/voicestream/dub`` (``~/.cache/voicestream/dub``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voicestream" / "dub"


def file_hash(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def key(*parts: Any) -> str:
    """A short stable key of JSON-able ``parts``."""
    text = json.dumps([CACHE_VERSION, *parts], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class JobCache:
    """Files of one input under ``root/<input hash>``; writes are atomic (temp file + rename),
    so an interrupted stage leaves nothing half-written behind."""

    def __init__(self, root: Path, input_hash: str) -> None:
        self.dir = root / input_hash[:16]
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        """Path of an entry (its parent folder created)."""
        p = self.dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def read_json(self, name: str) -> Any | None:
        """The stored JSON value, or ``None`` when missing or unreadable."""
        p = self.dir / name
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def write_json(self, name: str, value: Any) -> None:
        """Store ``value`` as JSON."""
        p = self.path(name)
        tmp = p.with_name(p.name + ".part")
        tmp.write_text(json.dumps(value, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(p)

    def read_audio(self, name: str) -> tuple[npt.NDArray[np.float32], int] | None:
        """Stored audio as float32 ``(channels, n)`` and its rate, or ``None``."""
        p = self.dir / name
        if not p.is_file():
            return None
        try:
            data, rate = sf.read(p, dtype="float32", always_2d=True)
        except (OSError, RuntimeError, sf.LibsndfileError):
            return None
        return np.ascontiguousarray(data.T), int(rate)

    def write_audio(self, name: str, audio: npt.NDArray[np.float32], rate: int) -> Path:
        """Store float32 ``(channels, n)`` or ``(n,)`` audio as a float WAV."""
        p = self.path(name)
        tmp = p.with_name(p.name + ".part")
        data = audio.T if audio.ndim == 2 else audio
        sf.write(tmp, data, rate, subtype="FLOAT", format="WAV")
        tmp.replace(p)
        return p


def transcript_to_json(t: Transcript) -> dict[str, Any]:
    """A JSON-able form of ``t`` (words, speakers, turns, translations)."""
    return {
        "language": t.language, "duration_s": t.duration_s, "model": t.model,
        "segments": [
            {"speaker": s.speaker, "translation": s.translation, "words": [asdict(w) for w in s.words]}
            for s in t.segments
        ],
        "turns": [asdict(x) for x in t.turns],
        "translation_language": t.translation_language, "translator": t.translator,
    }  # fmt: skip


def transcript_from_json(d: dict[str, Any]) -> Transcript:
    """Inverse of :func:`transcript_to_json`."""
    segments = []
    for s in d["segments"]:
        words = tuple(Word(**w) for w in s["words"])
        segments.append(Segment(words[0].start_s, words[-1].end_s, words, s["speaker"], s["translation"]))
    return Transcript(
        language=d["language"], duration_s=d["duration_s"], model=d["model"], segments=tuple(segments),
        turns=tuple(SpeakerTurn(**x) for x in d["turns"]),
        translation_language=d["translation_language"], translator=d["translator"],
    )  # fmt: skip
