"""ASS subtitles styled per speaker, and subtitles burned into the picture (``--burn-in``)."""

from __future__ import annotations

from pathlib import Path

import pysubs2
import pytest

from tests.subtitle_checks import parse_ass, rule_violations
from tests.test_cli import assert_one_line_error, voicestream
from tests.video_checks import changed_share, frame, packet_hash, plays, streams
from voicestream import media
from voicestream.cli import main
from voicestream.messages import Cue
from voicestream.subtitles.ass import DEFAULT_STYLE, to_ass


def test_ass_gives_each_speaker_a_style_of_its_own() -> None:
    """A style per speaker in order of appearance (distinct colours), the speaker as each
    line's actor, cue lines kept as ``\\N`` breaks, times to the centisecond; braces, which
    would open override tags, and commas, which cannot be in a style name, are defused."""
    cues = [
        Cue(1, 0.0, 1.5, ("Speaker 1: Hello there,", "how are you?"), "Speaker 1"),
        Cue(2, 1.6, 3.0, ("Speaker 2: Fine {really}",), "Speaker 2"),
        Cue(3, 3.1, 4.25, ("and you?",), "Speaker 2"),
        Cue(4, 4.3, 5.0, ("Dr. Who, PhD: yes",), "Dr. Who, PhD"),
        Cue(5, 5.1, 6.0, ("music",), None),
    ]
    doc = pysubs2.SSAFile.from_string(to_ass(cues))
    assert list(doc.styles) == [DEFAULT_STYLE, "Speaker 1", "Speaker 2", "Dr. Who  PhD"]
    colours = [str(doc.styles[name].primarycolor) for name in ("Speaker 1", "Speaker 2", "Dr. Who  PhD")]
    assert len(set(colours)) == 3
    assert [e.style for e in doc.events] == ["Speaker 1", "Speaker 2", "Speaker 2", "Dr. Who  PhD", DEFAULT_STYLE]
    assert [e.name for e in doc.events] == ["Speaker 1", "Speaker 2", "Speaker 2", "Dr. Who  PhD", ""]
    assert doc.events[0].plaintext == "Speaker 1: Hello there,\nhow are you?"
    assert doc.events[1].plaintext == "Speaker 2: Fine (really)" and "{" not in doc.events[1].text
    assert [(e.start, e.end) for e in doc.events][2] == (3100, 4250)
    assert doc.info["PlayResY"] == "1080"


@pytest.mark.models
@pytest.mark.slow
def test_transcribe_writes_ass_and_burns_the_subtitles_into_the_video(data: Path, tmp_path: Path) -> None:
    """``-o x.ass`` writes cues that keep the subtitle rules; ``--burn-in -o out.mp4`` writes one
    video and the source's audio, its packets byte for byte, that decodes to the end; at a
    cue's middle the picture's bottom third has text the source's frame has not, while its
    top half (no subtitles there) stays as the source's, within the re-encoding's noise."""
    video = data / "video_auto_editor" / "example.mp4"
    script, out = tmp_path / "example.ass", tmp_path / "example.captioned.mp4"
    assert main(["transcribe", str(video), "-o", str(script), "--model", "tiny.en", "--no-progress"]) == 0
    cues = parse_ass(script)
    duration = media.probe(video).duration_s
    assert cues and rule_violations(cues, duration) == []
    assert "banana" in " ".join(" ".join(c.lines) for c in cues).lower()
    assert main(["transcribe", str(video), "--burn-in", "-o", str(out), "--model", "tiny.en", "--no-progress"]) == 0

    kinds = [s["codec_type"] for s in streams(out)]
    assert kinds == ["video", "audio"] and streams(out)[0]["codec_name"] == "h264"
    assert packet_hash(out, "0:a") == packet_hash(video, "0:a")
    assert plays(out) and abs(media.probe(out).duration_s - duration) <= 0.1
    shown = [(c.start + c.end) / 2 for c in cues]
    changed = [changed_share(frame(video, at), frame(out, at)) for at in shown[:: max(1, len(shown) // 5)]]
    print("share of pixels changed at cues (bottom third, top half):", changed)
    assert all(bottom > 0.001 and top < 0.0005 for bottom, top in changed), changed
    assert not list(tmp_path.glob(".*.part*"))


def test_burn_in_refusals(data: Path, tmp_path: Path) -> None:
    """Audio without a picture, a subtitle file as the target, a batch: one-line errors (exit 2)."""
    jfk = data / "jfk_public_domain" / "jfk.flac"
    video = data / "video_auto_editor" / "example.mp4"
    assert_one_line_error(voicestream("transcribe", str(jfk), "--burn-in", "-o", str(tmp_path / "o.mp4")), 2,
                          "--burn-in needs a video: jfk.flac has no picture")  # fmt: skip
    assert_one_line_error(voicestream("transcribe", str(video), "--burn-in", "-o", str(tmp_path / "o.srt")), 2,
                          "cannot burn subtitles into 'o.srt'")  # fmt: skip
    assert_one_line_error(voicestream("transcribe", str(video), str(jfk), "--burn-in", "-o", str(tmp_path)), 2,
                          "--burn-in takes one video")  # fmt: skip
