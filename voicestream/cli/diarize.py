"""Command-line options of speaker diarization, shared by ``transcribe`` and ``serve``."""

from __future__ import annotations

import argparse
from typing import Any

from voicestream.diarize.base import SpeakerCount


def add_arguments(p: Any, counts: bool = True, token: bool = True) -> None:
    """Add ``--diarize``, ``--diarize-model``, (``token``) ``--hf-token`` and (``counts``) the speaker counts."""
    p.add_argument("--diarize", action="store_true", help="label speakers (speaker diarization)")
    p.add_argument("--diarize-model", default=None, metavar="NAME",
                   help="diarization pipeline: embedded (offline default: pyannote segmentation-3.0 + CAM++), "
                        "a pyannote hub id such as pyannote/speaker-diarization-community-1, or a pipeline "
                        "folder; implies --diarize")  # fmt: skip
    if token:
        p.add_argument("--hf-token", default=None, metavar="TOKEN",
                       help="Hugging Face token for gated hub pipelines (default: $HF_TOKEN)")  # fmt: skip
    if counts:
        p.add_argument("--num-speakers", type=int, default=None, metavar="N", help="exact number of speakers")
        p.add_argument("--min-speakers", type=int, default=None, metavar="N", help="at least N speakers")
        p.add_argument("--max-speakers", type=int, default=None, metavar="N", help="at most N speakers")


def wanted(args: argparse.Namespace) -> bool:
    """Whether the command line asks for speakers."""
    return bool(args.diarize or args.diarize_model)


def speaker_count(args: argparse.Namespace) -> SpeakerCount:
    """The speaker-count constraints asked for (:class:`~voicestream.errors.OptionError` if they conflict)."""
    return SpeakerCount(args.num_speakers, args.min_speakers, args.max_speakers)
