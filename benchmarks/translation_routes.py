"""chrF of every Apertium route installed here, on the parallel sentences of the shared data.

FLEURS is parallel: ``v2_dev/translate.tsv`` gives each sentence in German, French, Spanish
or Portuguese (``reference_raw``) with its English (``translation_en``), and
``non_english/refs.tsv`` adds a hand-checked sentence per language (Italian among them).
Each route that starts or ends in English is scored in the direction it goes: English ->
X against X's sentence, X -> English against the English one (corpus chrF, sacrebleu).
Routes between two other languages have no parallel text here and are listed as not
measured, as are routes with fewer than five sentences. The figures fill
:data:`voicestream.translate.apertium.MEASURED_CHRF`; a pivot
route is offered by default at :data:`~voicestream.translate.apertium.MIN_CHRF` or better.

    uv run python benchmarks/translation_routes.py [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import sacrebleu

from voicestream.translate.apertium import MIN_CHRF, ApertiumTranslator
from voicestream.translate.base import Sentence

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MIN_SENTENCES = 5
"""A route scored on fewer sentences is reported, but does not count as measured."""


def parallel(data: Path) -> dict[str, list[tuple[str, str]]]:
    """``{language: [(sentence, its English), ...]}`` from the shared data."""
    out: dict[str, list[tuple[str, str]]] = {}
    for table, text in (
        (data / "v2_dev" / "translate.tsv", "reference_raw"),
        (data / "non_english" / "refs.tsv", "reference"),
    ):
        with table.open(newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row.get(text) and row.get("translation_en"):
                    out.setdefault(row["lang"], []).append((row[text].strip(), row["translation_en"].strip()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    sentences = parallel(args.data)
    apertium = ApertiumTranslator(every_route=True)
    print(f"parallel sentences: {', '.join(f'{k} {len(v)}' for k, v in sorted(sentences.items()))}")
    print(f"{'route':24s} {'sentences':>9s} {'chrF':>6s}  offered")
    for (source, target), route in sorted(apertium.routes.items(), key=lambda kv: kv[1].label):
        other = target if source == "en" else source if target == "en" else None
        pairs = sentences.get(other or "", [])
        if not pairs:
            print(
                f"{route.label:24s} {'-':>9s} {'-':>6s}  "
                + ("yes (direct)" if len(route.modes) == 1 else "no (not measured)")
            )
            continue
        src, ref = (
            ([e for _, e in pairs], [x for x, _ in pairs])
            if source == "en"
            else ([x for x, _ in pairs], [e for _, e in pairs])
        )
        hyp = apertium.translate([Sentence(s) for s in src], source, target)
        score = sacrebleu.corpus_chrf(hyp, [ref]).score
        if len(route.modes) == 1:
            offered = "yes (direct)"
        elif len(pairs) < MIN_SENTENCES:
            offered = f"no (fewer than {MIN_SENTENCES} sentences: not measured)"
        else:
            offered = "yes" if score >= MIN_CHRF else "no (below the floor)"
        if route.chrf is not None and abs(route.chrf - score) > 0.05:
            offered += f"; MEASURED_CHRF says {route.chrf:.1f}: update it"
        print(f"{route.label:24s} {len(pairs):9d} {score:6.1f}  {offered}")


if __name__ == "__main__":
    main()
