"""``voicestream models list``: the catalog and what is available here."""

from __future__ import annotations

import argparse
from typing import Any

from voicestream.catalog import default_model, list_models


def add_parser(sub: Any) -> None:
    """Register the ``models`` sub-command."""
    p = sub.add_parser("models", help="list the models voicestream knows")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    lp = msub.add_parser("list", help="each model name, its source, and whether it is available here")
    lp.set_defaults(run=run_list)


def run_list(args: argparse.Namespace) -> int:
    """Print the catalog as a table."""
    rows = list_models()
    default = default_model()
    width = max(len(r.name) for r in rows) + 2
    print(f"{'NAME':<{width}} {'AVAILABLE':<10} SOURCE")
    for r in rows:
        name = r.name + ("*" if r.name == default else "")
        print(f"{name:<{width}} {'yes' if r.available else 'no':<10} {r.source}")
        if not r.available and r.source.startswith("embedded"):
            print(f"{'':<{width}} {'':<10} {r.note}")
    print(
        "\n* default model. Hub models download on first use when online; any CTranslate2 "
        "Whisper directory or Hugging Face repo id also works as --model."
    )
    return 0
