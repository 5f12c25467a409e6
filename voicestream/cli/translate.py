"""``voicestream translate``: an existing subtitle file into another language, offline."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from voicestream.asr import language_codes
from voicestream.errors import InputNotFoundError, ModelError, OptionError
from voicestream.output import check_writable, write_text
from voicestream.subtitles import SubtitleRules
from voicestream.subtitles.formats import render
from voicestream.subtitles.read import read_cues
from voicestream.translate.choose import choose
from voicestream.translate.layout import bilingual_cues, translated_cues
from voicestream.translate.subtitle_text import subtitles_transcript, translate_text

OUTPUT_FORMATS = ("srt", "vtt", "ass", "json", "txt")


def add_parser(sub: Any) -> None:
    """Register the ``translate`` sub-command."""
    p = sub.add_parser(
        "translate",
        help="translate a subtitle file (srt, vtt, ass) into another language",
        description="Translate SUBS sentence by sentence (across cue boundaries) and lay the translation "
        "back onto its timing with the subtitle rules of transcribe --translate-to; speaker labels are kept.",
    )
    p.add_argument("subtitles", type=Path, metavar="SUBS", help="an .srt, .vtt or .ass file")
    p.add_argument("--to", required=True, metavar="LANG", help="target language code (see voicestream doctor)")
    p.add_argument("--from", dest="source", default="en", metavar="LANG",
                   help="the language of SUBS (default: en)")  # fmt: skip
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output file; its extension picks the format: srt, vtt, ass, json, txt "
                   "(default: SUBS with .LANG before the extension)")  # fmt: skip
    p.add_argument("--translator", default=None,
                   help="apertium (every installed route, measured or not) or opus-mt:MODEL "
                   "(default: the best route offered)")  # fmt: skip
    p.add_argument("--bilingual", action="store_true", help="the source lines with the translation under them")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(run=run)


def output_path(args: argparse.Namespace) -> tuple[Path, str]:
    """Where the translation goes and its format."""
    path = args.output or args.subtitles.with_name(f"{args.subtitles.stem}.{args.to}{args.subtitles.suffix}")
    fmt = path.suffix.lower().lstrip(".")
    fmt = "ass" if fmt == "ssa" else fmt
    if fmt not in OUTPUT_FORMATS:
        raise OptionError(f"cannot write '{path.name}': use one of {', '.join('.' + f for f in OUTPUT_FORMATS)}")
    if path.exists() and not args.overwrite:
        raise OptionError(f"{path} exists (use --overwrite)")
    return path, fmt


def run(args: argparse.Namespace) -> int:
    """Read, translate, lay out, write; prints what it did."""
    args.to, args.source = str(args.to).lower(), str(args.source).lower()
    if not args.subtitles.is_file():
        raise InputNotFoundError(f"{args.subtitles}: no such file")
    for code in (args.to, args.source):
        if code not in language_codes():
            raise OptionError(f"unknown language '{code}'")
    path, fmt = output_path(args)
    check_writable(path)
    translator = choose(args.source, args.to, args.translator, None)
    cues = read_cues(args.subtitles)
    transcript = translate_text(subtitles_transcript(cues, args.source), translator, args.to)
    rules = replace(SubtitleRules(), label_in_text=fmt != "vtt")
    lay = bilingual_cues if args.bilingual else translated_cues
    out = lay(transcript.segments, args.to, transcript.duration_s, rules)
    if not out:
        raise ModelError(f"{transcript.translator} returned no text for {args.subtitles}; nothing written")
    write_text(path, render(fmt, transcript, out, args.subtitles.stem, args.bilingual))
    print(f"{len(cues)} cues, {len(transcript.segments)} sentences translated {args.source}->{args.to} "
          f"({transcript.translator}): {len(out)} cues in {path}")  # fmt: skip
    return 0
