"""Policy of speaker attribution, subtitles with speakers, RTTM and option checks (no models)."""

from __future__ import annotations

import pytest
import srt
import webvtt

from voicestream.diarize.attribution import attribute_words, snap_to_sentences
from voicestream.diarize.base import SpeakerCount
from voicestream.diarize.engine import relabel
from voicestream.errors import OptionError
from voicestream.messages import SpeakerTurn, Transcript, Word
from voicestream.sentences import group_sentences
from voicestream.subtitles import build_cues
from voicestream.subtitles.formats import to_rttm, to_srt, to_txt, to_vtt
from voicestream.subtitles.lines import wrap


def w(start: float, end: float, text: str, speaker: str | None = None) -> Word:
    return Word(start, end, " " + text, 0.9, speaker)


A, B = "Speaker 1", "Speaker 2"


def test_words_take_the_turn_they_overlap_most() -> None:
    turns = [SpeakerTurn(0.0, 2.0, A), SpeakerTurn(2.0, 4.0, B)]
    words = [w(0.2, 0.6, "one"), w(1.7, 2.5, "two"), w(1.6, 2.1, "three"), w(3.0, 3.5, "four")]
    assert [x.speaker for x in attribute_words(words, turns)] == [A, B, A, B]


def test_words_outside_turns_take_the_nearest_then_the_previous_speaker() -> None:
    turns = [SpeakerTurn(0.0, 1.0, A), SpeakerTurn(5.0, 6.0, B)]
    words = [w(1.5, 1.8, "near"), w(3.0, 3.2, "far"), w(4.5, 4.8, "before")]
    assert [x.speaker for x in attribute_words(words, turns)] == [A, A, B]
    assert [x.speaker for x in attribute_words(words, [])] == [None, None, None]


def test_overlapping_turns_are_all_considered() -> None:
    """A long turn that started early still counts for a later word (turns need not be exclusive)."""
    turns = [SpeakerTurn(0.0, 10.0, A), SpeakerTurn(1.0, 2.0, B), SpeakerTurn(3.0, 3.2, B)]
    words = [w(5.0, 5.5, "late"), w(0.8, 2.0, "inside")]
    assert [x.speaker for x in attribute_words(words, turns)] == [A, A]


def test_speaker_change_snaps_to_a_near_sentence_end() -> None:
    late = [w(0, 0.3, "Neither", B), w(0.3, 0.5, "did", B), w(0.5, 0.7, "I.", A), w(0.8, 1, "Okay", A)]
    assert [x.speaker for x in snap_to_sentences(late)] == [B, B, B, A]
    early = [w(0, 0.3, "Jersey.", A), w(0.4, 0.6, "And", A), w(0.6, 0.8, "I'm", A), w(0.8, 1, "Sheila", B)]
    assert [x.speaker for x in snap_to_sentences(early)] == [A, B, B, B]


def test_speaker_change_without_a_near_sentence_end_stays() -> None:
    words = [w(i * 0.3, i * 0.3 + 0.2, f"w{i}", A if i < 5 else B) for i in range(10)]
    assert [x.speaker for x in snap_to_sentences(words)] == [x.speaker for x in words]
    far = [w(0, 0.2, "a.", A), w(0.3, 0.9, "long", A), w(0.9, 1.7, "words", A), w(1.8, 2.0, "c", B)]
    assert [x.speaker for x in snap_to_sentences(far)] == [A, A, A, B]  # 1.4 s of words to move


def test_labels_follow_first_appearance() -> None:
    turns = [SpeakerTurn(0, 1, "SPEAKER_03"), SpeakerTurn(1, 2, "SPEAKER_00"), SpeakerTurn(2, 3, "SPEAKER_03")]
    assert [t.speaker for t in relabel(turns, turns).turns] == [A, B, A]


@pytest.mark.parametrize(("num", "low", "high"), [(0, None, None), (None, 3, 2), (2, 1, None), (None, -1, None)])
def test_bad_speaker_counts_are_option_errors(num: int | None, low: int | None, high: int | None) -> None:
    with pytest.raises(OptionError):
        SpeakerCount(num, low, high)


def words_of(text: str, start: float, speaker: str | None = None) -> list[Word]:
    """One word every 0.4 s from ``start``, each 0.3 s long."""
    return [w(start + 0.4 * i, start + 0.3 + 0.4 * i, t, speaker) for i, t in enumerate(text.split(" "))]


def _two_speakers() -> list[Word]:
    return words_of("We went down to the river today.", 0.5, A) + words_of("Did you see any fish there?", 4.0, B)


def test_cues_split_at_speaker_changes_and_label_them() -> None:
    cues = build_cues(_two_speakers(), 8.0)
    assert [c.speaker for c in cues] == [A, B]
    subs = list(srt.parse(to_srt(cues)))
    assert subs[0].content.startswith("Speaker 1: We went") and subs[1].content.startswith("Speaker 2: Did")
    vtt = webvtt.from_string(to_vtt(cues))
    assert [c.voice for c in vtt.captions] == [A, B]
    assert vtt.captions[1].text == "Did you see any fish there?"


def test_label_counts_against_the_line_length() -> None:
    words = words_of("a quick brown fox jumps over the lazy dog", 0.0)
    assert wrap(words, 42) == ("a quick brown fox jumps over the lazy dog",)
    lines = wrap(words, 42, lead=len("Speaker 1: "))
    assert lines is not None and len(lines) == 2 and len("Speaker 1: " + lines[0]) <= 42
    labelled = [Word(x.start_s, x.end_s, x.text, 0.9, A) for x in words]
    for cue in build_cues(labelled, 5.0):
        assert all(len(line) <= 42 for line in to_srt([cue]).splitlines()[2:])


def test_txt_and_rttm_carry_speakers() -> None:
    words = _two_speakers()
    turns = (SpeakerTurn(0.5, 3.3, A), SpeakerTurn(4.0, 6.3, B))
    transcript = Transcript("en", 8.0, "base", tuple(group_sentences(words)), turns=turns)
    assert transcript.speakers == (A, B)
    assert to_txt(transcript).splitlines() == [
        "Speaker 1: We went down to the river today.",
        "Speaker 2: Did you see any fish there?",
    ]
    lines = to_rttm(turns, "my file").splitlines()
    assert lines[0].split() == [
        "SPEAKER",
        "my_file",
        "1",
        "0.500",
        "2.800",
        "<NA>",
        "<NA>",
        "Speaker_1",
        "<NA>",
        "<NA>",
    ]
    assert len(lines) == 2
