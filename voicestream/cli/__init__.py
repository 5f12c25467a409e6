"""The ``voicestream`` command: argument parsing and the error boundary."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from voicestream import __version__
from voicestream.blas import one_blas_thread
from voicestream.cli import doctor, dub, models, ray_config, serve, stream, transcribe, translate
from voicestream.errors import VoicestreamError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(prog="voicestream", description="Speech to timed subtitles, live or from files.")
    parser.add_argument("--version", action="version", version=f"voicestream {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    transcribe.add_parser(sub)
    translate.add_parser(sub)
    dub.add_parser(sub)
    serve.add_parser(sub)
    ray_config.add_parser(sub)
    stream.add_parser(sub)
    models.add_parser(sub)
    doctor.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see :mod:`voicestream.errors`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(args.debug or os.environ.get("VOICESTREAM_DEBUG"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(name)s: %(message)s")
    one_blas_thread()
    try:
        return int(args.run(args))
    except VoicestreamError as e:
        print(f"voicestream: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("voicestream: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if debug:
            raise
        print(
            f"voicestream: internal error: {type(e).__name__}: {e} (rerun with --debug for details)",
            file=sys.stderr,
        )
        return 1
