"""espeak-ng (Debian package, formant synthesis): the last-resort voice, for any of its ~100 languages."""

from __future__ import annotations

import io
import shutil
import subprocess
from functools import cache

import numpy as np
import soundfile as sf

from voicestream.errors import ModelError
from voicestream.tts.base import Gender, Speech, Voice
from voicestream.tts.espeak_ids import espeak_voice

VARIANTS: tuple[tuple[str, Gender], ...] = (
    ("m3", "male"), ("f3", "female"), ("m1", "male"), ("f2", "female"), ("m7", "male"), ("f4", "female"),
)  # fmt: skip
"""Voice variants (``voice+variant``) that sound clearly different from each other."""

BASE_WPM = 165
"""espeak-ng's speaking rate (words per minute) at ``speed=1.0``."""


def _binary() -> str:
    found = shutil.which("espeak-ng")
    if found is None:
        raise ModelError("espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    return found


@cache
def installed_languages() -> frozenset[str]:
    """espeak-ng language names installed here (``es``, ``es-419``, ``en-us`` ...), mbrola voices excluded."""
    if shutil.which("espeak-ng") is None:
        return frozenset()
    out = subprocess.run([_binary(), "--voices"], capture_output=True, text=True, check=False).stdout
    names = set()
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and not cols[4].startswith("mb/"):
            names.add(cols[1])
    return frozenset(names)


class EspeakSynthesizer:
    """espeak-ng through its command line (text on stdin, WAV on stdout)."""

    name = "espeak"

    def voices(self, language: str) -> list[Voice]:
        """One voice per variant when espeak-ng speaks ``language``."""
        if espeak_voice(language) not in installed_languages():
            return []
        return [Voice(self.name, f"{espeak_voice(language)}+{v}", language, g, quality=0) for v, g in VARIANTS]

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Speech:
        """Speak ``text``; returns 22.05 kHz mono float32."""
        argv = [_binary(), "-v", voice.name, "-s", str(round(BASE_WPM * speed)), "--stdin", "--stdout"]
        proc = subprocess.run(argv, input=text.encode("utf-8"), capture_output=True, check=False)
        if proc.returncode != 0 or not proc.stdout:
            raise ModelError(f"espeak-ng failed for voice {voice.name}: {proc.stderr.decode(errors='replace').strip()}")
        samples, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=False)
        return Speech(np.asarray(samples, dtype=np.float32).reshape(-1), int(rate))
