"""Translating an existing subtitle file (``voicestream translate``) and dubbing from one
(``dub --subtitles SUBS``): reading SRT/WebVTT/ASS with speakers, sentences across cue
boundaries, the subtitle rules, timing inside the source cues; real Apertium throughout."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.subtitle_checks import parse_srt, rule_violations
from voicestream.cli import main
from voicestream.errors import SubtitleFileError
from voicestream.subtitles.read import SourceCue, cue_words, read_cues
from voicestream.translate.apertium import ApertiumTranslator
from voicestream.translate.base import Sentence
from voicestream.translate.subtitle_text import subtitles_transcript

SRT = """1
00:00:01,000 --> 00:00:03,000
Speaker 1: The weather was lovely this morning,

2
00:00:03,200 --> 00:00:05,000
so we walked down to the river.

3
00:00:06,000 --> 00:00:08,500
Speaker 2: Did you see any fish there?

4
00:00:09,000 --> 00:00:12,000
Speaker 1: Only a few small ones near the old bridge.
"""


def test_srt_labels_carry_to_the_next_cues_and_a_lone_prefix_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "talk.srt"
    path.write_text(SRT + "\n5\n00:00:13,000 --> 00:00:15,000\nNote: this is <i>not</i> a speaker.\n")
    cues = read_cues(path)
    assert [c.speaker for c in cues] == ["Speaker 1", "Speaker 1", "Speaker 2", "Speaker 1", "Speaker 1"]
    assert cues[1] == SourceCue(3.2, 5.0, "so we walked down to the river.", "Speaker 1")
    assert cues[-1].text == "Note: this is not a speaker."
    words = cue_words(cues)
    for cue in cues:  # every word timed inside its own cue, in order
        inside = [w for w in words if cue.start_s <= w.start_s and w.end_s <= cue.end_s]
        assert " ".join(w.text.strip() for w in inside) == cue.text
    segments = subtitles_transcript(cues, "en").segments
    assert segments[0].text == "The weather was lovely this morning, so we walked down to the river."  # across cues
    assert [s.speaker for s in segments[:3]] == ["Speaker 1", "Speaker 2", "Speaker 1"]


def test_srt_prefixes_that_are_not_names_tags_and_windows_text(tmp_path: Path) -> None:
    path = tmp_path / "said.srt"
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\nHe said: yes\n\n2\n00:00:02,000 --> 00:00:03,000\nHe said: no\n\n"
        "3\n00:00:03,000 --> 00:00:04,000\n{\\an8}Señor Ruiz arrives\n"
    )
    path.write_bytes(text.encode("cp1252"))
    cues = read_cues(path)
    assert [(c.text, c.speaker) for c in cues] == [("He said: yes", None), ("He said: no", None),
                                                     ("Señor Ruiz arrives", None)]  # fmt: skip


def test_overlapping_cues_keep_their_words_in_order() -> None:
    cues = [SourceCue(1.0, 4.0, "Where are you going tonight?"), SourceCue(1.5, 3.0, "Nowhere."),
            SourceCue(5.0, 6.0, "Good.")]  # fmt: skip
    words = cue_words(cues)
    starts = [w.start_s for w in words]
    assert starts == sorted(starts) and all(w.end_s >= w.start_s for w in words)
    assert words[0].start_s == 1.0 and words[-1].end_s <= 6.0


def test_dub_options_read_subtitles_before_any_model(tmp_path: Path) -> None:
    from voicestream.cli import build_parser
    from voicestream.cli.dub import _options
    from voicestream.errors import OptionError

    parser = build_parser()
    old_order = parser.parse_args(["dub", "--subtitles", "talk.mp4", "--to", "es"])  # the flag before INPUT
    assert _options(old_order).text_from is None and old_order.input == "talk.mp4" and old_order.subtitles is True
    subs = tmp_path / "talk.srt"
    subs.write_text(SRT)
    given = _options(parser.parse_args(["dub", "talk.mp4", "--to", "es", "--subtitles", str(subs)]))
    assert given.subtitles and given.text_from is not None and len(given.text_from.cues) == 4
    with pytest.raises(OptionError, match="translates the speech"):
        _options(
            parser.parse_args(["dub", "talk.mp4", "--to", "en", "--subtitles", str(subs), "--translator", "whisper"])
        )
    with pytest.raises(OptionError, match="needs an INPUT"):
        _options(parser.parse_args(["dub", "--to", "es", "--subtitles", str(subs)]))


def test_vtt_voices_and_ass_actors_are_speakers(tmp_path: Path) -> None:
    vtt = tmp_path / "a.vtt"
    vtt.write_text("WEBVTT\n\n00:00:01.250 --> 00:00:02.500\n<v Ana>Tom &amp; Jerry\nagain\n\n"
                   "00:01:02.000 --> 00:01:03.000\nNo voice here\n")  # fmt: skip
    assert read_cues(vtt) == [SourceCue(1.25, 2.5, "Tom & Jerry again", "Ana"), SourceCue(62.0, 63.0, "No voice here")]
    ass = tmp_path / "a.ass"
    ass.write_text(
        "[Script Info]\nScriptType: v4.00+\n\n"
        "[V4+ Styles]\nFormat: Name, Fontname, Fontsize\nStyle: Default,Arial,20\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
        "Dialogue: 0,0:00:01.00,0:00:02.00,Default,Bob,0,0,0,,Hello {\\i1}there{\\i0}\\Nfriend\n"
        "Comment: 0,0:00:02.00,0:00:03.00,Default,,0,0,0,,a comment\n"
        "Dialogue: 0,0:00:03.00,0:00:04.00,Italics,,0,0,0,,a sign\n"
    )
    # a style is no speaker (fansubs name styles "Signs", "Italics")
    assert read_cues(ass) == [SourceCue(1.0, 2.0, "Hello there friend", "Bob"), SourceCue(3.0, 4.0, "a sign")]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.txt", "hello", "not a subtitle file"),
        ("a.srt", "1\n00:00:01,000 --> garbage\nhello\n", "not a readable SRT file"),
        ("a.srt", "", "holds no timed cue"),
        ("a.vtt", "not webvtt at all", "not a readable VTT file"),
    ],
)
def test_bad_subtitle_files_are_clear_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SubtitleFileError, match=message):
        read_cues(path)


def test_cli_translates_an_srt_keeping_rules_timing_and_speakers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "talk.srt"
    source.write_text(SRT)
    assert main(["translate", str(source), "--to", "pt"]) == 0
    out = tmp_path / "talk.pt.srt"
    assert "(apertium:en-es-pt)" in capsys.readouterr().out
    cues = parse_srt(out)
    assert all(len(line) <= 42 for c in cues for line in c.lines)  # the label fits in the first line
    unlabelled = [replace(c, lines=[c.lines[0].split(": ", 1)[-1], *c.lines[1:]]) for c in cues]
    assert rule_violations(unlabelled, 12.0) == []  # reading speed is the words' (as transcribe --diarize)
    spans = [(c.start_s, c.end_s) for c in read_cues(source)]
    for cue in cues:  # each translated cue starts and ends inside the speech of the source cues
        assert any(a - 0.001 <= cue.start <= b for a, b in spans), cue
        assert any(a <= cue.end <= b + 0.001 for a, b in spans), cue
    assert len(cues) <= 2 * len(spans)
    text = " ".join(" ".join(c.lines) for c in cues)
    assert not any(mark in text for mark in "*#@")
    expected = ApertiumTranslator().translate(
        [Sentence(s.text) for s in subtitles_transcript(read_cues(source), "en").segments], "en", "pt"
    )
    labels = ("Speaker 1: ", "Speaker 2: ")
    for label in labels:
        text = text.replace(label, "")
    assert text.split() == " ".join(expected).split()  # whole sentences, across the cue boundary
    first_lines = [c.lines[0] for c in cues]
    assert [line.split(":")[0] for line in first_lines if line.startswith(labels)] == [
        "Speaker 1", "Speaker 2", "Speaker 1",
    ]  # fmt: skip

    vtt = tmp_path / "talk.es.vtt"
    assert main(["translate", str(source), "--to", "es", "-o", str(vtt)]) == 0
    assert read_cues(vtt)[0].speaker == "Speaker 1" and "<v Speaker 2>" in vtt.read_text()
    assert main(["translate", str(source), "--to", "es", "-o", str(vtt)]) == 2  # exists: --overwrite
    doc = tmp_path / "talk.es.json"
    assert main(["translate", str(source), "--to", "es", "-o", str(doc)]) == 0
    assert json.loads(doc.read_text())["translation"] == {"language": "es", "engine": "apertium:en-es"}


def test_cli_translate_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "talk.srt"
    source.write_text(SRT)
    assert main(["translate", str(tmp_path / "missing.srt"), "--to", "es"]) == 3
    assert main(["translate", str(source), "--to", "de"]) == 2
    assert "cannot translate en->de; available: apertium: " in capsys.readouterr().err
    assert main(["translate", str(source), "--to", "es", "-o", str(tmp_path / "out.mp4")]) == 2
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:01,000 --> garbage\nhello\n")
    assert main(["translate", str(bad), "--to", "es"]) == 13
    assert "not a readable SRT file" in capsys.readouterr().err


@pytest.mark.models
def test_dub_from_an_edited_subtitle_file_speaks_the_given_text(data: Path, tmp_path: Path) -> None:
    """JFK with "country" edited to "nation" in the subtitles: the dub speaks the edit
    (Whisper would hear "country"), and the report says where the text came from."""
    subs = tmp_path / "jfk.edited.srt"
    subs.write_text(
        "1\n00:00:00,300 --> 00:00:04,500\nAnd so, my fellow Americans,\n\n"
        "2\n00:00:04,900 --> 00:00:10,800\n"
        "ask not what your nation can do for you, ask what you can do for your nation.\n"
    )
    out = tmp_path / "jfk.es.m4a"
    args = ["dub", str(data / "jfk_public_domain" / "jfk.flac"), "--to", "es", "--subtitles", str(subs), "-o", str(out),
            "--background", "none", "--no-diarize", "--no-cache", "--no-progress", "--language", "en"]  # fmt: skip
    assert main(args) == 0 and out.stat().st_size > 0
    report = json.loads((tmp_path / "jfk.es.dub.json").read_text(encoding="utf-8"))
    assert report["text_from"] == str(subs) and report["translator"] == "apertium:en-es"
    source = " ".join(u["source_text"] for u in report["utterances"])
    assert "nation" in source and "country" not in source
    assert "nación" in " ".join(u["target_text"] for u in report["utterances"]).lower()
    assert main([*args[:4], "--subtitles", str(tmp_path / "none.srt"), *args[6:]]) == 3
