"""Apertium (rule-based, offline) through the Debian packages' ``apertium`` command."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from voicestream.errors import ModelError
from voicestream.translate.base import Sentence

MODES_DIR = Path("/usr/share/apertium/modes")
"""Where Debian's apertium-* packages install their translation modes."""
ISO3 = {
    "eng": "en", "spa": "es", "cat": "ca", "fra": "fr", "por": "pt", "ita": "it", "glg": "gl", "ron": "ro",
    "oci": "oc", "arg": "an", "ast": "ast", "eus": "eu", "epo": "eo", "deu": "de", "nld": "nl", "afr": "af",
    "dan": "da", "nob": "nb", "nno": "nn", "swe": "sv", "isl": "is", "srd": "sc", "frp": "frp", "rus": "ru",
    "ukr": "uk", "bel": "be", "kaz": "kk", "tat": "tt", "mlt": "mt", "ara": "ar", "hin": "hi", "urd": "ur",
}  # fmt: skip
"""Apertium names languages by ISO 639-3 (older pairs by 639-1); Whisper uses 639-1."""
TIMEOUT_S = 120.0


def installed_modes(modes_dir: Path = MODES_DIR) -> dict[tuple[str, str], str]:
    """``{(source, target): mode}`` for every installed plain pair mode (ISO 639-1 codes)."""
    found: dict[tuple[str, str], str] = {}
    for path in sorted(modes_dir.glob("*.mode")) if modes_dir.is_dir() else []:
        parts = path.stem.split("-")
        if len(parts) != 2 or "_" in path.stem:  # variants (spa-eng_US) and debug modes are skipped
            continue
        source, target = (ISO3.get(p, p) for p in parts)
        found.setdefault((source, target), path.stem)
    return found


SEPARATOR = "\n\n"
"""Sentences go through one process separated by blank lines, which Apertium's text
format keeps as they are (superblanks)."""


class ApertiumTranslator:
    """Sentences through one ``apertium -u MODE`` process per call, one sentence per
    paragraph; if the paragraphs do not come back one for one, each sentence is sent alone."""

    name = "apertium"

    def __init__(self, modes_dir: Path = MODES_DIR) -> None:
        self.binary = shutil.which("apertium")
        self.modes = installed_modes(modes_dir) if self.binary else {}

    def supports(self, source: str, target: str) -> bool:
        """Whether an installed pair translates ``source`` -> ``target``."""
        return (source, target) in self.modes

    def pairs(self) -> list[str]:
        """Installed pairs as ``"src->tgt"``."""
        return [f"{s}->{t}" for s, t in self.modes]

    def translate(self, sentences: Sequence[Sentence], source: str, target: str) -> list[str]:
        """Translations in order; ``-u`` leaves unknown words unmarked (no ``*``)."""
        if not sentences:
            return []
        if self.binary is None or not self.supports(source, target):
            raise ModelError(f"apertium has no installed {source}->{target} pair (apt-get install apertium-...)")
        mode = self.modes[(source, target)]
        texts = [" ".join(s.text.split()) or "." for s in sentences]
        out = self._run(mode, SEPARATOR.join(texts)).split(SEPARATOR)
        if len(out) != len(texts):
            out = [self._run(mode, text) for text in texts]
        return [" ".join(t.split()) for t in out]

    def _run(self, mode: str, text: str) -> str:
        assert self.binary is not None
        try:
            done = subprocess.run(
                [self.binary, "-u", mode], input=text.encode(), capture_output=True, timeout=TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise ModelError(f"apertium took over {TIMEOUT_S:g} s") from None
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace").strip().splitlines()
            raise ModelError(f"apertium failed: {reason[0] if reason else done.returncode}")
        return done.stdout.decode(errors="replace").strip("\n")
