"""Cue building policy on synthetic word timings."""

from __future__ import annotations

from voicestream.messages import Cue, Word
from voicestream.subtitles import SubtitleRules, build_cues
from voicestream.subtitles.breaks import break_cost
from voicestream.subtitles.lines import wrap

RULES = SubtitleRules()


def words_from(text: str, start: float = 0.0, rate_s: float = 0.3, speaker: str | None = None) -> list[Word]:
    """Words spoken one every ``rate_s`` seconds, each lasting 80% of that."""
    out = []
    for i, token in enumerate(text.split()):
        t = start + i * rate_s
        out.append(Word(t, t + 0.8 * rate_s, " " + token, 0.9, speaker))
    return out


def check(cues: list[Cue], duration: float) -> None:
    prev_end = 0.0
    for c in cues:
        assert 1 <= len(c.lines) <= 2, c
        assert all(len(line) <= 42 for line in c.lines), c
        assert c.start_s >= prev_end - 1e-9, "overlap"
        assert c.end_s > c.start_s
        assert c.end_s <= duration + 1e-9
        prev_end = c.end_s


def test_short_text_is_one_line_cue() -> None:
    """A short sentence becomes one single-line cue."""
    cues = build_cues(words_from("Hello there."), duration_s=5.0)
    assert [c.lines for c in cues] == [("Hello there.",)]


def test_long_text_respects_line_and_cue_limits() -> None:
    """A long monologue is cut into cues of at most 2 lines of 42 characters and 7 s."""
    text = ("this is a rather long stretch of speech without any punctuation at all that goes on " * 6).strip()
    words = words_from(text)
    cues = build_cues(words, duration_s=words[-1].end_s + 1)
    check(cues, words[-1].end_s + 1)
    assert all(c.end_s - c.start_s <= RULES.max_duration_s for c in cues)
    assert " ".join(" ".join(c.lines) for c in cues).split() == text.split()


def test_cuts_at_sentence_ends() -> None:
    """Cue boundaries prefer sentence ends over mid-phrase cuts."""
    text = "The weather was lovely in the morning today. Then it started raining on all of us quite heavily."
    cues = build_cues(words_from(text), duration_s=20.0)
    assert cues[0].text.replace("\n", " ").endswith("today.")


def test_line_break_prefers_punctuation() -> None:
    """Two-line cues break after a comma rather than mid-phrase."""
    lines = wrap(words_from("When the time reaches forty seconds, I will say banana right now."), 42)
    assert lines == ("When the time reaches forty seconds,", "I will say banana right now.")


def test_speaker_change_starts_new_cue() -> None:
    """Words of a new speaker never share a cue with the previous speaker."""
    words = words_from("Hi there.", speaker="A") + words_from("Hello.", start=0.6, speaker="B")
    cues = build_cues(words, duration_s=5.0)
    assert [(c.speaker, c.text) for c in cues] == [("A", "Hi there."), ("B", "Hello.")]


def test_pause_splits_cue() -> None:
    """A long pause between words ends the cue instead of showing text over silence."""
    words = words_from("good morning") + words_from("everyone here", start=3.0)
    cues = build_cues(words, duration_s=10.0)
    assert [c.text for c in cues] == ["good morning", "everyone here"]


def test_short_cue_extended_to_minimum_duration() -> None:
    """A one-word cue is shown at least 0.8 s when silence follows."""
    cues = build_cues([Word(1.0, 1.2, " Yes.", 0.9)], duration_s=5.0)
    assert cues[0].end_s - cues[0].start_s >= RULES.min_duration_s


def test_fast_speech_borrows_silence_for_reading_speed() -> None:
    """Fast speech is kept readable by extending into the surrounding silence."""
    words = words_from("Supercalifragilistic expialidocious indeed.", start=2.0, rate_s=0.15)
    cues = build_cues(words, duration_s=10.0)
    for c in cues:
        chars = len(c.text.replace("\n", " "))
        assert chars / (c.end_s - c.start_s) <= RULES.max_cps + 1e-6


def test_never_overlaps_next_cue_or_media_end() -> None:
    """Extensions stop at the next cue and at the end of the media."""
    words = [Word(0.0, 0.1, " A.", 0.9, "S1"), Word(0.2, 0.3, " B.", 0.9, "S2"), Word(0.4, 0.45, " C.", 0.9, "S1")]
    cues = build_cues(words, duration_s=0.5)
    check(cues, 0.5)


def test_unbreakable_word_is_hard_wrapped() -> None:
    """A single token longer than a line is cut so no line exceeds the limit."""
    url = "https://example.org/" + "x" * 70
    cues = build_cues([Word(0.0, 2.0, " " + url, 0.9)], duration_s=5.0)
    assert all(len(line) <= 42 for c in cues for line in c.lines)
    assert "".join(cues[0].lines) == url


def test_a_labelled_sentence_that_fits_stays_on_one_line_in_webvtt() -> None:
    """The WebVTT voice span is not cue text: "This is what a crocodile sounds like." (37
    characters) stays on one line; in SRT the label takes room, so it breaks at a phrase."""
    words = words_from("This is what a crocodile sounds like.", speaker="Speaker 1")
    vtt = build_cues(words, duration_s=5.0, rules=SubtitleRules(label_in_text=False))
    assert [c.lines for c in vtt] == [("This is what a crocodile sounds like.",)]
    srt = build_cues(words, duration_s=5.0)
    assert all(len(line) + (len("Speaker 1: ") if i == 0 else 0) <= 42 for c in srt for i, line in enumerate(c.lines))


def test_no_break_inside_a_written_word() -> None:
    """ "ill" + "-disposed" (Whisper's pieces of one word) cost more to break than any place
    between words, and never go on different lines."""
    ill, disposed, the = Word(2.3, 2.5, " ill", 0.9), Word(2.6, 2.9, "-disposed", 0.9), Word(2.0, 2.2, " the", 0.9)
    assert break_cost(ill, disposed) > break_cost(the, ill) >= 4.0
    words = [*words_from("and so the old man was quite ill", rate_s=0.1), disposed, *words_from("with us", start=3.0)]
    lines = wrap(words, 42)
    assert lines is not None and any("ill-disposed" in line for line in lines), lines


def test_no_cue_break_inside_a_written_word_even_at_a_pause() -> None:
    """A live decode can time Whisper's second piece of a word after a gap ("flower" at
    29.18 s, "-fattened" at 30.4 s): the gap is a timing slip, not a place to cut a cue."""
    before = words_from("he hoped there would be stew for dinner and fat mutton pieces in thick peppered flower")
    end = before[-1].end_s
    after = [Word(end + 1.2, end + 1.6, "-fattened", 0.9), *words_from("sauce. It will be seen", start=end + 1.7)]
    cues = build_cues([*before, *after], end + 5.0, RULES)
    check(cues, end + 5.0)
    text = [" ".join(c.lines) for c in cues]
    assert any("flower-fattened" in t for t in text), text


def test_a_pause_of_exactly_the_threshold_cuts_alike_however_the_times_were_rounded() -> None:
    """Word times come in 20 ms steps, so a pause of exactly ``pause_split_s`` is common; in
    floats 64.32 - 63.32 is 0.99999..., and the server's unrounded times land on either side.
    Pauses are compared to the ms, so the same words with float noise on either side of a
    pause cut alike: a pause of at least ``pause_split_s`` ends a cue. (The server also
    builds its export from ms-rounded times, as sent: a CI run saw a client's copy of the
    finals cut differently from the export.)"""
    first = words_from("we walked along the river", start=61.82, rate_s=0.3)
    first[-1] = Word(first[-1].start_s, 63.32, first[-1].text, 0.9)
    second = words_from("and then we sat down", start=64.32, rate_s=0.3)
    assert second[0].start_s - first[-1].end_s < RULES.pause_split_s  # the float trap itself
    sent = first + second
    held = [Word(w.start_s - 1e-9, w.end_s - 1e-9, w.text, 0.9) for w in first] + [
        Word(w.start_s + 1e-9, w.end_s + 1e-9, w.text, 0.9) for w in second
    ]
    cues = build_cues(sent, 70.0)
    assert [c.lines for c in cues] == [("we walked along the river",), ("and then we sat down",)]
    assert [c.lines for c in build_cues(held, 70.0)] == [c.lines for c in cues]
