"""Sentence grouping and punctuation folding."""

from __future__ import annotations

import pytest

from voicestream.messages import Word
from voicestream.sentences import attach_punctuation, group_sentences, sentence_end


def w(start: float, text: str, speaker: str | None = None) -> Word:
    return Word(start, start + 0.2, text, 0.9, speaker)


def test_trailing_mark_joins_previous_word() -> None:
    """A lone '.' becomes part of the word before it, without doubling an existing one or
    adding a second sentence end."""
    out = attach_punctuation([w(0, " say"), w(0.3, " banana."), w(0.6, " ."), w(0.7, "!"), w(1, " Yes"), w(1.3, "?")])
    assert [x.text for x in out] == [" say", " banana.", " Yes?"]


def test_leading_mark_joins_next_word() -> None:
    """An opening quote at the start goes onto the next word."""
    out = attach_punctuation([w(0, " “"), w(0.3, " Hello”")])
    assert [x.text for x in out] == [" “Hello”"]


def test_sentences_split_at_end_marks_speakers_and_pauses() -> None:
    """Segments end after '.', at a speaker change and at a long pause."""
    words = [w(0, " Hi."), w(0.3, " How"), w(0.6, " are"), w(0.9, " you", "B"), w(4.0, " fine")]
    segs = group_sentences(words)
    assert [s.text for s in segs] == ["Hi.", "How are", "you", "fine"]


def test_long_unpunctuated_run_is_split_at_longest_pause() -> None:
    """A run without punctuation longer than 15 s is cut at its longest internal pause."""
    words = [w(i * 0.5, " word") for i in range(20)] + [w(10.9 + i * 0.5, " more") for i in range(20)]
    segs = group_sentences(words, max_duration_s=15.0)
    assert len(segs) == 2 and segs[1].words[0].text == " more"


@pytest.mark.parametrize(
    ("text", "following", "ends"),
    [
        ("Mr.", "Smith", False), ("Mrs.", "Brown", False), ("Dr.", None, False), ("St.", "Paul's", False),
        ("J.", "Smith", False), ("e.g.", "the", False), ("i.e.", "The", False), ("3.", "5", False),
        ("U.S.", "economy", False), ("U.S.", "The", True), ("U.S.", None, False), ("a.m.", "We", True),
        ("etc.", "And", True), ("No.", "5", False), ("No.", "I", True), ("done.", "The", True),
        ("done.", None, True), ("2023.", "Then", True), ("well.", "and", False), ("so…", "and", False),
        ("what?", "the", True), ('end."', "He", True), ('"Mr.', "Brown", False),
        # other languages we translate and speak
        ("Sr.", "García", False), ("Sra.", "López", False), ("z.B.", "die", False), ("Hr.", "Müller", False),
        ("Mme.", "Curie", False), ("M.", "Dupont", False), ("fin.", "Il", True), ("終わり。", None, True),
        ("¿verdad?", "Sí", True),
    ],
)  # fmt: skip
def test_sentence_ends_know_abbreviations_initials_and_numbers(text: str, following: str | None, ends: bool) -> None:
    assert sentence_end(text, following) is ends


def test_titles_do_not_split_sentences() -> None:
    """ "Mr." does not end the segment it opens (the live caption line, translation unit and
    subtitle cue all come from the same rule)."""
    words = [w(0, " Mr."), w(0.3, " Quilter"), w(0.6, " is"), w(0.9, " here."), w(1.2, " In"), w(1.5, " the"),
             w(1.8, " U.S."), w(2.1, " The"), w(2.4, " end.")]  # fmt: skip
    assert [s.text for s in group_sentences(words)] == ["Mr. Quilter is here.", "In the U.S.", "The end."]
