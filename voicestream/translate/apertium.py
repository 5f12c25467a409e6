"""Apertium (rule-based, offline) through the Debian packages' ``apertium`` command.

Each installed pair mode is a direct route; where no pair joins two languages, two pairs
chained through a pivot language (English or Spanish, the hubs of Debian's pairs) are a
route too (``apertium:en-es-pt``). A direct pair is preferred, then the pivot route
whose chrF measured by ``benchmarks/translation_routes.py`` is best.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
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


PIVOTS = ("es", "en")
"""Languages a two-step route may pass through; between unmeasured routes the first wins
(Spanish: Apertium's Romance pairs are its most developed)."""
MEASURED_CHRF: dict[str, float] = {
    "apertium:en-es": 43.0, "apertium:es-en": 39.7,
    "apertium:en-es-fr": 42.2, "apertium:fr-es-en": 45.3,
    "apertium:en-es-pt": 50.5, "apertium:pt-es-en": 53.9,
}  # fmt: skip
"""Corpus chrF (sacrebleu, 0-100) by route label, measured by ``benchmarks/translation_routes.py``
on the parallel FLEURS sentences of ``../shared/data/v2_dev`` (6 per language; routes with
fewer sentences, such as Italian's one, are not counted as measured)."""
MIN_CHRF = 35.0
"""A pivot route is offered without being asked for by name at this chrF or better: the
direct English-Spanish pairs the project has always offered measure 43.0 and 39.7 on the
same sentences, and with six sentences a route's figure moves by several points."""
_MARKUP = re.compile(r"(?<![\w*#@])[*#@](?=\w)")


@dataclass(frozen=True, slots=True)
class Route:
    """Languages from source to target (two, or three through a pivot) and the pair modes
    that take each step."""

    languages: tuple[str, ...]
    modes: tuple[str, ...]

    @property
    def label(self) -> str:
        """``apertium:en-es-pt``."""
        return "apertium:" + "-".join(self.languages)

    @property
    def chrf(self) -> float | None:
        """The route's measured chrF, or ``None`` if it was not measured."""
        return MEASURED_CHRF.get(self.label)

    @property
    def offered(self) -> bool:
        """Whether the route is offered without being asked for by name: a direct pair,
        or a pivot route measured at :data:`MIN_CHRF` or better."""
        return len(self.modes) == 1 or (self.chrf is not None and self.chrf >= MIN_CHRF)


def find_routes(modes: dict[tuple[str, str], str]) -> dict[tuple[str, str], Route]:
    """``{(source, target): route}``: each direct pair, and for pairs no mode joins, the
    best route through one of :data:`PIVOTS` (the best measured; unmeasured ones last)."""
    routes = {pair: Route(pair, (mode,)) for pair, mode in modes.items()}
    languages = sorted({lang for pair in modes for lang in pair})
    for source in languages:
        for target in languages:
            if source == target or (source, target) in routes:
                continue
            candidates = [
                Route((source, pivot, target), (modes[source, pivot], modes[pivot, target]))
                for pivot in PIVOTS
                if pivot not in (source, target) and (source, pivot) in modes and (pivot, target) in modes
            ]
            if candidates:
                routes[source, target] = max(candidates, key=lambda r: -1.0 if r.chrf is None else r.chrf)
    return routes


def clean(text: str, source: str = "") -> str:
    """``text`` without Apertium's marks (``*`` unknown word, ``#`` generation error, ``@``
    transfer error) and with single spaces; a marked word that ``source`` (the text given
    to Apertium) already had, such as "*laughs*" or "@john", is kept as written."""
    kept = set(source.split())
    words = [w if w in kept else _MARKUP.sub("", w) for w in text.split()]
    return " ".join(w for w in words if w)


SEPARATOR = "\n\n"
"""Sentences go through one process separated by blank lines, which Apertium's text
format keeps as they are (superblanks)."""


class ApertiumTranslator:
    """Sentences through one ``apertium -u MODE`` process per call, one sentence per
    paragraph; if the paragraphs do not come back one for one, each sentence is sent alone."""

    name = "apertium"

    def __init__(self, modes_dir: Path = MODES_DIR, every_route: bool = False) -> None:
        """``every_route``: offer pivot routes measured below :data:`MIN_CHRF` or not
        measured (the engine was asked for by name)."""
        self.binary = shutil.which("apertium")
        self.modes = installed_modes(modes_dir) if self.binary else {}
        self.routes = {pair: route for pair, route in find_routes(self.modes).items() if every_route or route.offered}

    def supports(self, source: str, target: str) -> bool:
        """Whether an installed pair, or two chained through a pivot, translate ``source`` -> ``target``."""
        return (source, target) in self.routes

    def pairs(self) -> list[str]:
        """Offered routes as ``"src->tgt"``."""
        return [f"{s}->{t}" for s, t in self.routes]

    def route(self, source: str, target: str) -> Route | None:
        """The route taken from ``source`` to ``target``, or ``None``."""
        return self.routes.get((source, target))

    def translate(self, sentences: Sequence[Sentence], source: str, target: str) -> list[str]:
        """Translations in order, through each step of the route; ``-u`` leaves unknown
        words unmarked and :func:`clean` removes any mark left."""
        if not sentences:
            return []
        route = self.route(source, target)
        if self.binary is None or route is None:
            raise ModelError(f"apertium has no installed {source}->{target} route (apt-get install apertium-...)")
        texts = [" ".join(s.text.split()) or "." for s in sentences]
        for mode in route.modes:
            texts = [clean(out, given) for out, given in zip(self._step(mode, texts), texts, strict=True)]
        return texts

    def _step(self, mode: str, texts: list[str]) -> list[str]:
        out = self._run(mode, SEPARATOR.join(texts)).split(SEPARATOR)
        if len(out) != len(texts):
            out = [self._run(mode, text) for text in texts]
        return [" ".join(t.split()) or "." for t in out]

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
