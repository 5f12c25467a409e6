"""Command-line options of speculative decoding, shared by ``transcribe`` and ``serve``."""

from __future__ import annotations

import argparse
from typing import Any

from voicestream.asr.speculative import DraftSettings
from voicestream.errors import OptionError


def add_arguments(p: Any) -> None:
    """Add ``--draft-model`` and the adaptive-K bounds to parser ``p``."""
    d = DraftSettings()
    p.add_argument("--draft-model", default=None, metavar="NAME",
                   help="smaller Whisper proposing tokens for speculative greedy decoding "
                        "(e.g. tiny.en for base); output is the main model's greedy output")  # fmt: skip
    p.add_argument("--draft-policy", choices=("auto", "always"), default="auto",
                   help="auto: draft only where the decoder costs measured at start predict a speed-up "
                        "(a GPU; not a small CPU); always: draft regardless (default: auto)")  # fmt: skip
    p.add_argument("--draft-tokens", type=int, default=d.num_tokens, metavar="K",
                   help=f"tokens the draft model proposes per pass at first (default: {d.num_tokens})")  # fmt: skip
    p.add_argument("--draft-min-tokens", type=int, default=d.min_tokens, metavar="K",
                   help=f"lower bound of the adaptive K (default: {d.min_tokens})")  # fmt: skip
    p.add_argument("--draft-max-tokens", type=int, default=d.max_tokens, metavar="K",
                   help=f"upper bound of the adaptive K; equal bounds fix K (default: {d.max_tokens})")  # fmt: skip


def draft_settings(args: argparse.Namespace) -> DraftSettings:
    """The adaptive-K settings asked for, or :class:`OptionError` (exit 2)."""
    try:
        return DraftSettings(args.draft_tokens, args.draft_min_tokens, args.draft_max_tokens)
    except ValueError as e:
        raise OptionError(f"--draft-tokens/--draft-min-tokens/--draft-max-tokens: {e}") from None
