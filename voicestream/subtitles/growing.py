"""Subtitle files that grow on disk while a live session runs (``voicestream stream --srt``).

:class:`LiveCaptions` (sans-I/O) applies a session's ``final``, ``revision`` and
``speaker_update`` events to the finals a client holds, and renders them with the same cue
rules as the server's ``export``. :class:`GrowingSubtitles` rewrites each file atomically
(a temporary file, then a rename: a player or OBS text source never reads half a file)
whenever the finals change, and at the end writes the server's own export of the session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from voicestream.messages import Word
from voicestream.output import write_text
from voicestream.subtitles import SubtitleRules, build_cues
from voicestream.subtitles.formats import to_srt, to_vtt

LiveFormat = Literal["srt", "vtt"]
LIVE_FORMATS: tuple[LiveFormat, ...] = ("srt", "vtt")


def apply_revision(finals: list[dict[str, Any]], event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``finals`` with a ``revision`` event applied: its ``finals`` take the place of the ids it ``replaces``."""
    gone = set(event["replaces"])
    at = next((k for k, f in enumerate(finals) if f["id"] in gone), len(finals))
    kept = [f for f in finals if f["id"] not in gone]
    return kept[:at] + list(event["finals"]) + kept[at:]


def live_subtitles(words: Sequence[Word], duration_s: float, fmt: str) -> str:
    """``words`` (stream seconds) as ``srt`` or ``vtt`` text in a stream of ``duration_s``
    seconds, cut by the CLI's subtitle rules: the server's ``export`` and a client's
    :meth:`LiveCaptions.render` both. Times count to the ms, as the events send them, so a
    client holding the events gets the server's very text."""
    timed = tuple(replace(w, start_s=round(w.start_s, 3), end_s=round(w.end_s, 3)) for w in words)
    end = max(round(duration_s, 3), timed[-1].end_s if timed else 0.0)
    cues = build_cues(timed, end, SubtitleRules(label_in_text=fmt != "vtt"))
    return to_srt(cues) if fmt == "srt" else to_vtt(cues)


class LiveCaptions:
    """The finals of one session as its events arrive (wire-format dicts, docs/protocol.md)."""

    def __init__(self) -> None:
        self.finals: list[dict[str, Any]] = []

    def apply(self, event: Mapping[str, Any]) -> bool:
        """Take one event; whether the finals changed (a final, a revision, a speaker correction)."""
        kind = event.get("type")
        if kind == "final":
            self.finals.append(dict(event))
        elif kind == "revision":
            self.finals = apply_revision(self.finals, event)
        elif kind == "speaker_update":
            return self._relabel(event)
        else:
            return False
        return True

    def _relabel(self, event: Mapping[str, Any]) -> bool:
        for k, final in enumerate(self.finals):
            if final["id"] == event["final"]:
                speakers = list(event.get("speakers") or [])
                words = [
                    {**w, "speaker": speakers[i]} if i < len(speakers) else w for i, w in enumerate(final["words"])
                ]
                self.finals[k] = {**final, "words": words, "speaker": event.get("speaker")}
                return True
        return False

    def words(self) -> list[Word]:
        """Every final's words, in order (seconds on the stream's clock)."""
        return [
            Word(float(w["start"]), float(w["end"]), str(w["word"]), float(w.get("probability", 1.0)), w.get("speaker"))
            for final in self.finals
            for w in final["words"]
        ]

    def render(self, fmt: LiveFormat, duration_s: float = 0.0) -> str:
        """The finals so far as ``srt`` or ``vtt`` text, cut as the server's ``export`` cuts
        them. ``duration_s`` is the stream's length when known (``done``'s ``duration``): the
        last cue may then stay past its last word for reading time, as in the export; before,
        the last word's end bounds it."""
        return live_subtitles(self.words(), duration_s, fmt)


class GrowingSubtitles:
    """An event hook that keeps subtitle files up to date: ``targets`` maps a format to its path.

    Each change of the finals rewrites every file; a ``subtitles`` event (the server's export,
    asked for with ``stop``) replaces its format's file with the server's text, which is then
    final (later speaker corrections are already in it).
    """

    def __init__(self, targets: Mapping[LiveFormat, Path]) -> None:
        self.targets = dict(targets)
        self.captions = LiveCaptions()
        self.exported: set[str] = set()
        self.writes = 0

    def __call__(self, event: Mapping[str, Any]) -> None:
        if event.get("type") == "subtitles" and event.get("format") in self.targets:
            fmt: LiveFormat = event["format"]
            write_text(self.targets[fmt], str(event["text"]))
            self.exported.add(fmt)
            self.writes += 1
        elif self.captions.apply(event):
            for fmt, path in self.targets.items():
                if fmt not in self.exported:
                    write_text(path, self.captions.render(fmt))
                    self.writes += 1
