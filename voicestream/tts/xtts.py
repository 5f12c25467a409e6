"""Coqui XTTS v2 voice cloning (``coqui-tts``, the 'clone' extra): each speaker speaks the
target language in their own voice, cloned from a 3-10 s reference clip cut from the source.
The weights come from the Coqui model hub by name, so this engine works online only."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from voicestream.errors import ModelError
from voicestream.online import reachable
from voicestream.tts.base import Speech, Voice

MODEL = "tts_models/multilingual/multi-dataset/xtts_v2"
LANGUAGES = frozenset(
    ["en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar", "zh", "ja", "hu", "ko", "hi"]
)
SAMPLE_RATE = 24_000
_WEIGHTS_HOST = "huggingface.co"


class XttsSynthesizer:
    """XTTS v2 through ``TTS.api.TTS``; one model shared, loaded on first use."""

    name = "xtts"

    def __init__(self, model: str = MODEL, device: str = "cpu") -> None:
        """``model``: a Coqui model name; ``device``: ``cpu`` or ``cuda``."""
        self._model_name = model
        self._device = device
        self._tts: Any = None
        self._lock = threading.Lock()

    def voices(self, language: str) -> list[Voice]:
        """One cloning voice per language XTTS speaks (its reference is set per speaker)."""
        return [Voice(self.name, "clone", language, "unknown", quality=4)] if language in LANGUAGES else []

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Speech:
        """Speak ``text`` in the voice of ``voice.reference`` (a wav of the speaker)."""
        if voice.reference is None:
            raise ModelError("XTTS needs a reference clip of the speaker to clone")
        tts = self._load()
        with self._lock:
            wav = tts.tts(text=text, speaker_wav=voice.reference, language=voice.language, speed=speed)
        return Speech(np.asarray(wav, dtype=np.float32).reshape(-1), SAMPLE_RATE)

    def _load(self) -> Any:
        with self._lock:
            if self._tts is None:
                self._tts = load_xtts(self._model_name, self._device)
            return self._tts


def load_xtts(model: str, device: str) -> Any:
    """The Coqui ``TTS`` object for ``model``.

    Raises:
        ModelError: coqui-tts is not installed, or the weights are neither cached nor reachable.
    """
    try:
        from TTS.api import TTS  # Coqui TTS comes with the clone extra
        from TTS.utils.manage import ModelManager  # Coqui TTS comes with the clone extra
    except ImportError as e:
        raise ModelError("voice cloning needs the 'clone' extra (coqui-tts): uv sync --all-extras") from e
    cached = (Path(ModelManager().output_prefix) / model.replace("/", "--")).is_dir()
    if not cached and not reachable(_WEIGHTS_HOST):
        raise ModelError(
            f"XTTS weights '{model}' are not cached and {_WEIGHTS_HOST} cannot be reached (offline?); "
            "offline voices: piper, kokoro, espeak"
        )
    os.environ.setdefault("COQUI_TOS_AGREED", "1")
    try:
        return TTS(model, progress_bar=False).to(device)
    except Exception as e:  # download, license and checkpoint errors all mean "cannot load"
        raise ModelError(f"cannot load XTTS model '{model}': {type(e).__name__}: {e}") from None
