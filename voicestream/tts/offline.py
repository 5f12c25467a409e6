"""The offline speech synthesizers, best first."""

from __future__ import annotations

from voicestream.tts.base import Synthesizer


def offline_synthesizers(threads: int | None = None) -> list[Synthesizer]:
    """Piper, Kokoro (``threads`` model threads; all cores when ``None``), espeak-ng.
    Engines whose packages are missing offer no voices."""
    from voicestream.tts.espeak import EspeakSynthesizer  # each engine imports its optional package
    from voicestream.tts.kokoro import KokoroSynthesizer  # engines import their optional packages
    from voicestream.tts.piper import PiperSynthesizer  # engines import their optional packages

    return [PiperSynthesizer(), KokoroSynthesizer(threads), EspeakSynthesizer()]
