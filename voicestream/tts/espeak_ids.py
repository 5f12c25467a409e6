"""espeak-ng voice names for ISO 639-1 codes (shared by the espeak and Kokoro engines)."""

from __future__ import annotations

ESPEAK_VOICE = {"en": "en-us", "fr": "fr", "pt": "pt-br", "zh": "cmn", "es": "es", "de": "de", "it": "it"}
"""ISO 639-1 code -> espeak-ng voice, where the two differ or a regional default is better."""


def espeak_voice(language: str) -> str:
    """espeak-ng voice name for ``language`` (ISO 639-1)."""
    return ESPEAK_VOICE.get(language, language)
