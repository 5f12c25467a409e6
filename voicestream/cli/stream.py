"""``voicestream stream``: send a media file to a server at real time and print the captions."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voicestream import media
from voicestream.asr.vocabulary import split_terms, vocabulary_text
from voicestream.client import stream_samples
from voicestream.errors import OptionError
from voicestream.live.speech.timeline import speech_track
from voicestream.output import check_writable, write_text
from voicestream.subtitles.growing import GrowingSubtitles, LiveFormat


def add_parser(sub: Any) -> None:
    """Register the ``stream`` sub-command."""
    p = sub.add_parser("stream", help="stream a media file to a voicestream server like a live source")
    p.add_argument("input", help="audio or video file")
    p.add_argument("--url", default="ws://127.0.0.1:8765", help="server URL (default: ws://127.0.0.1:8765)")
    p.add_argument("--speed", type=float, default=1.0, help="1 = real time, 2 = twice as fast, 0 = as fast as possible")
    p.add_argument("-o", "--output", help="write every event as a JSON line (with recv_s) to this file")
    p.add_argument("--srt", default=None, metavar="FILE",
                   help="keep this SubRip file up to date as finals arrive (rewritten atomically; at the end "
                        "the server's export of the session, speaker corrections included)")  # fmt: skip
    p.add_argument("--vtt", default=None, metavar="FILE", help="the same as --srt, in WebVTT")
    p.add_argument("--token", default=None, help="server token")
    p.add_argument("-l", "--language", default="auto", help="language code or auto")
    p.add_argument("--task", choices=("transcribe", "translate"), default="transcribe")
    p.add_argument("--diarize", action="store_true", help="ask for speaker labels (the server needs --diarize)")
    p.add_argument("--vocabulary", default=None, metavar="TERMS",
                   help="names and terms to expect, comma-separated (\"Kowloon, Qiao, EBITDA\")")  # fmt: skip
    p.add_argument("--room", default=None, metavar="NAME",
                   help="publish to caption room NAME: viewers read it at /watch?room=NAME")  # fmt: skip
    p.add_argument("--speak", default=None, metavar="LANG", help="ask for translated speech in LANG")
    p.add_argument("--voice", default=None, help="voice for --speak: piper, kokoro, espeak or ENGINE:NAME")
    p.add_argument("--save-audio", default=None, metavar="WAV",
                   help="write the translated speech, placed on the stream's timeline, to this WAV file")  # fmt: skip
    p.set_defaults(run=run)


class _Printer:
    """Finals as lines (a revision prints its replacements); the current partial on a
    rewritten status line when on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.partial = False

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "final":
            self._clear()
            self._final(event)
        elif kind == "revision":
            self._clear()
            ids = event["replaces"]
            print(f"(finals {ids[0]}-{ids[-1]} revised:)" if len(ids) > 1 else f"(final {ids[0]} revised:)")
            for final in event["finals"]:
                self._final(final)
        elif kind in ("speech", "speech_skipped"):
            self._clear()
            what = f"at {event['start']:7.2f}" if kind == "speech" else f"skipped, {event['reason']}"
            print(f"  (spoken {what}: {event['text']})", flush=True)
        elif kind == "speaker_update":
            self._clear()
            print(f"(final {event['final']} is {event['speaker']})", flush=True)
        elif kind == "partial" and self.tty:
            self._clear()
            sys.stdout.write(f"  ... {event['text'][-100:]}")
            sys.stdout.flush()
            self.partial = True

    @staticmethod
    def _final(event: dict[str, Any]) -> None:
        who = f"{event['speaker']}: " if event.get("speaker") else ""
        print(f"[{event['start']:7.2f} -> {event['end']:7.2f}] {who}{event['text']}", flush=True)

    def _clear(self) -> None:
        if self.partial:
            sys.stdout.write("\r\x1b[K")
            self.partial = False


def _each(hooks: list[Callable[[dict[str, Any]], None]], event: dict[str, Any]) -> None:
    for hook in hooks:
        hook(event)


def run(args: argparse.Namespace) -> int:
    """Stream ``args.input`` and print/write the events."""
    target = Path(args.output).expanduser().resolve() if args.output else None
    if target is not None:
        check_writable(target)

    if args.speed < 0:
        raise OptionError("--speed must be 0 or more")
    vocabulary_text(split_terms(args.vocabulary or ""))  # bounds checked here, before connecting
    if (args.save_audio or args.voice) and not args.speak:
        raise OptionError("--save-audio and --voice need --speak LANG")
    audio_target = Path(args.save_audio).expanduser().resolve() if args.save_audio else None
    if audio_target is not None:
        check_writable(audio_target)
    subtitles: dict[LiveFormat, Path] = {}
    given_files: tuple[tuple[LiveFormat, str | None], ...] = (("srt", args.srt), ("vtt", args.vtt))
    for fmt, given in given_files:
        if given:
            subtitles[fmt] = Path(given).expanduser().resolve()
            check_writable(subtitles[fmt])
    hooks: list[Callable[[dict[str, Any]], None]] = [_Printer()]
    if subtitles:
        hooks.append(GrowingSubtitles(subtitles))
    samples = media.decode(args.input)
    language = None if args.language == "auto" else args.language
    events = asyncio.run(
        stream_samples(
            args.url,
            samples,
            speed=args.speed,
            token=args.token,
            language=language,
            task=args.task,
            on_event=functools.partial(_each, hooks),
            diarize=args.diarize,
            export=tuple(subtitles),
            vocabulary=tuple(split_terms(args.vocabulary or "")),
            room=args.room,
            speak=args.speak,
            voice=args.voice,
        )
    )
    if audio_target is not None:
        import soundfile as sf  # soundfile comes with the dub extra

        rate = 24_000
        sf.write(audio_target, speech_track(events, rate, samples.size / 16_000), rate, subtype="PCM_16")
    if target is not None:
        lines = ({k: v for k, v in e.items() if k != "audio"} for e in events)
        write_text(target, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in lines))
    done = next(e for e in events if e.get("type") == "done")
    print(f"voicestream: streamed {done['duration']:.1f} s, {done['finals']} finals", file=sys.stderr)
    return 0
