"""Subtitle files that grow while a live session runs (``voicestream stream --srt/--vtt``)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
import srt
import webvtt

from tests.servers import RunningServer
from voicestream import media
from voicestream.asr import FasterWhisperEngine
from voicestream.client import current_finals, stream_samples
from voicestream.subtitles.growing import GrowingSubtitles, LiveCaptions, LiveFormat


def _final(fid: int, words: list[tuple[str, float, float]], speaker: str | None = None) -> dict[str, Any]:
    return {
        "type": "final", "id": fid, "text": "".join(w for w, _, _ in words).strip(),
        "words": [{"word": w, "start": s, "end": e, "probability": 0.9, **({"speaker": speaker} if speaker else {})}
                  for w, s, e in words],
        **({"speaker": speaker} if speaker else {}),
    }  # fmt: skip


def _srt_text(path: Path) -> str:
    return " ".join(cue.content.replace("\n", " ") for cue in srt.parse(path.read_text()))


def test_live_captions_apply_finals_revisions_and_speaker_corrections(tmp_path: Path) -> None:
    """Finals add cues, a revision replaces the finals it names in place, a speaker correction
    relabels its final's words; each change rewrites the files, which parse back."""
    targets: dict[LiveFormat, Path] = {"srt": tmp_path / "live.srt", "vtt": tmp_path / "live.vtt"}
    hook = GrowingSubtitles(targets)
    hook({"type": "partial", "text": "hello"})
    assert hook.writes == 0 and not targets["srt"].exists()
    hook(_final(1, [(" Hello", 0.0, 0.4), (" there.", 0.4, 0.8)], "Speaker 1"))
    hook(_final(2, [(" How", 1.5, 1.7), (" are", 1.7, 1.9), (" you?", 1.9, 2.3)], "Speaker 1"))
    assert _srt_text(targets["srt"]) == "Speaker 1: Hello there. How are you?"
    revised = _final(3, [(" How", 1.5, 1.7), (" were", 1.7, 1.9), (" you?", 1.9, 2.3)], "Speaker 1")
    hook({"type": "revision", "replaces": [2], "finals": [revised]})
    assert _srt_text(targets["srt"]) == "Speaker 1: Hello there. How were you?"
    hook({"type": "speaker_update", "final": 3, "speaker": "Speaker 2", "speakers": ["Speaker 2"] * 3})
    assert _srt_text(targets["srt"]) == "Speaker 1: Hello there. Speaker 2: How were you?"
    voices = [c.voice for c in webvtt.from_buffer(io.StringIO(targets["vtt"].read_text())).captions]
    assert voices == ["Speaker 1", "Speaker 2"]
    assert hook.writes == 4 * 2
    hook({"type": "subtitles", "format": "srt", "text": "1\n00:00:00,000 --> 00:00:01,000\nfrom the server\n\n"})
    assert _srt_text(targets["srt"]) == "from the server"
    hook(_final(4, [(" Late.", 3.0, 3.4)]))  # after the export the SRT file is final; the VTT still grows
    assert _srt_text(targets["srt"]) == "from the server"
    assert webvtt.from_buffer(io.StringIO(targets["vtt"].read_text()))[-1].text == "Late."
    assert LiveCaptions().render("srt") == ""


@pytest.mark.models
def test_subtitle_files_grow_with_each_final_and_end_as_the_export(
    tiny_engine: FasterWhisperEngine, data: Path, tmp_path: Path
) -> None:
    """A real session (four read speakers, tiny.en, streamed at 4x): after every final both
    files parse and hold exactly the finals so far; at the end each file is the server's
    export of the session, and the client's own rendering of its finals equals that export."""
    samples = media.decode(data / "long_form" / "librispeech_concat_4spk.wav")
    targets: dict[LiveFormat, Path] = {"srt": tmp_path / "live.srt", "vtt": tmp_path / "live.vtt"}
    hook = GrowingSubtitles(targets)
    seen: list[dict[str, Any]] = []
    checked = [0]

    def on_event(event: dict[str, Any]) -> None:
        hook(event)
        seen.append(event)
        if event["type"] in ("final", "revision"):
            # the finals' words as written (a final may end inside a written word: "flower" + "-fattened")
            said = "".join(w["word"] for f in current_finals(seen) for w in f["words"]).split()
            assert _srt_text(targets["srt"]).split() == said
            vtt = webvtt.from_buffer(io.StringIO(targets["vtt"].read_text()))
            assert " ".join(c.text.replace("\n", " ") for c in vtt.captions).split() == said
            checked[0] += 1

    server = RunningServer(tiny_engine, max_rate=0)
    try:
        events = asyncio.run(stream_samples(server.url, samples, speed=4.0, language="en", on_event=on_event,
                                            export=("srt", "vtt")))  # fmt: skip
    finally:
        server.close()
    exports = {e["format"]: e["text"] for e in events if e["type"] == "subtitles"}
    duration = float(next(e for e in events if e["type"] == "done")["duration"])
    print(f"{checked[0]} finals and revisions, each followed by a parsed rewrite; {hook.writes} writes")
    assert checked[0] >= 8 and set(exports) == {"srt", "vtt"}
    for fmt, path in targets.items():
        assert path.read_text() == exports[fmt]
        # the client's finals converge on the export, given the stream's length
        assert hook.captions.render(fmt, duration) == exports[fmt]
    assert not list(tmp_path.glob(".*.part"))  # no temporary file left behind
