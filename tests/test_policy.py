"""The streaming policy with scripted hypotheses (a fake engine; no model, no clock)."""

from __future__ import annotations

import itertools

import numpy as np

from voicestream.live.events import FinalEvent, PartialEvent
from voicestream.live.policy import DecodeRequest, StreamingTranscriber, StreamSettings
from voicestream.live.revision import Revision
from voicestream.messages import Word

SR = 16000
SPEECH, SILENCE = 0.9, 0.05


def feed(policy: StreamingTranscriber, seconds: float, prob: float) -> None:
    """Push ``seconds`` of audio whose VAD frames all have probability ``prob``."""
    n = round(seconds * SR)
    policy.push(np.zeros(n, np.float32), np.full(n // 512, prob, np.float32))


def words(text: str, start: float, step: float = 0.4) -> list[Word]:
    return [Word(start + i * step, start + i * step + 0.3, " " + t, 0.9) for i, t in enumerate(text.split())]


def finals(events: list[PartialEvent | FinalEvent | Revision]) -> list[str]:
    return ["".join(w.text for w in e.words).strip() for e in events if isinstance(e, FinalEvent)]


def test_no_decode_on_silence() -> None:
    """Silence never triggers a decode, and the buffer stays short."""
    policy = StreamingTranscriber(StreamSettings())
    for _ in range(30):
        feed(policy, 1.0, SILENCE)
        assert policy.next_decode() is None
    assert policy.buffer_s <= 1.0


def test_local_agreement_commits_agreed_prefix_but_not_newest_word() -> None:
    """Two hypotheses agreeing on 'the cat sat' confirm 'the cat': 'sat' ends at the audio's end and waits."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0))
    feed(policy, 1.0, SPEECH)
    r1 = policy.next_decode()
    assert r1 is not None and not r1.final
    policy.apply(r1, words("the cat sat", 0.0, 0.3))
    assert finals(policy.events()) == []
    assert policy.next_decode() is None, "no new audio yet"
    feed(policy, 1.0, SPEECH)
    r2 = policy.next_decode()
    assert r2 is not None
    policy.apply(r2, words("the cat sat", 1.0, 0.3))  # 'sat' now ends 0.1 s before the audio does
    events = policy.events()
    assert finals(events) == ["the cat"]
    partials = [e for e in events if isinstance(e, PartialEvent)]
    assert ["".join(w.text for w in partials[-1].words).strip()] == ["sat"]
    assert partials[-1].revision == 2
    feed(policy, 1.0, SPEECH)
    r3 = policy.next_decode()
    assert r3 is not None
    policy.apply(r3, words("the cat sat on", 1.0, 0.3))
    assert finals(policy.events()) == ["sat"]


def test_words_old_enough_are_confirmed_from_one_decode() -> None:
    """A session behind real time decodes seldom, and agreement alone would keep its words
    for two decodes: a word ending ``confirm_age_s`` before the audio's end is confirmed by
    the first decode that reads it; younger words still wait for agreement, and with
    ``confirm_age_s=None`` every word does."""
    heard = words("one two three four five six", 0.0, 0.6)  # ends 0.3, 0.9, ... 3.3 s
    for age, expected in ((2.5, ["one two three"]), (None, [])):
        policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0, confirm_age_s=age))
        feed(policy, 4.0, SPEECH)
        request = policy.next_decode()
        assert request is not None and not request.final
        policy.apply(request, heard)
        assert finals(policy.events()) == expected, age


def test_finals_never_retracted_and_times_monotonic() -> None:
    """A later hypothesis that rewrites confirmed words cannot change or repeat them."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0))
    all_finals: list[Word] = []
    hyps = ["one two three", "one two three four", "won too three four five", "one two three four five six"]
    for text in hyps:
        feed(policy, 1.0, SPEECH)
        request = policy.next_decode()
        assert request is not None
        policy.apply(request, words(text, 0.0))
        all_finals += [w for e in policy.events() if isinstance(e, FinalEvent) for w in e.words]
    texts = [w.text.strip() for w in all_finals]
    assert texts == ["one", "two", "three", "four", "five"][: len(texts)] and len(texts) >= 3
    assert all(a.end_s <= b.start_s + 1e-9 for a, b in itertools.pairwise(all_finals))


def test_silence_finalises_everything() -> None:
    """A pause after speech makes the next decode final: every word is confirmed at once."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=5.0, end_silence_s=0.6))
    feed(policy, 1.5, SPEECH)
    feed(policy, 0.8, SILENCE)
    request = policy.next_decode()
    assert request is not None and request.final
    policy.apply(request, words("hello world", 0.1))
    assert finals(policy.events()) == ["hello world"]
    assert policy.next_decode() is None


def test_words_invented_in_trailing_silence_dropped() -> None:
    """A word starting well after the VAD's end of speech is not confirmed."""
    policy = StreamingTranscriber(StreamSettings(end_silence_s=0.6))
    feed(policy, 1.0, SPEECH)
    feed(policy, 1.0, SILENCE)
    request = policy.next_decode()
    assert request is not None and request.final
    policy.apply(request, [*words("real words", 0.1), Word(1.8, 1.9, " Thanks.", 0.3)])
    assert finals(policy.events()) == ["real words"]


def _final_after(policy: StreamingTranscriber, interim: list[list[Word]]) -> list[str]:
    """Interim decodes ``interim`` one second apart, then a pause whose final decode hears
    nothing (a guard dropped the window): the finals of each, in order."""
    out: list[str] = []
    for heard in interim:
        feed(policy, 1.0, SPEECH)
        request = policy.next_decode()
        assert request is not None and not request.final
        policy.apply(request, heard)
        out += finals(policy.events())
    feed(policy, 1.0, SILENCE)
    request = policy.next_decode()
    assert request is not None and request.final
    policy.apply(request, [])
    return out + finals(policy.events())


def test_a_final_that_hears_nothing_confirms_only_the_partial_on_screen() -> None:
    """A final decode with no words confirms the words of the partial the reader last saw;
    once a later update confirmed every word it read (the final clears the page's partial),
    the words it no longer read are not brought back."""
    settings = StreamSettings(update_interval_s=1.0, end_silence_s=0.6, confirm_age_s=None)
    shown = _final_after(StreamingTranscriber(settings), [words("the cat sat", 0.0, 0.3)])
    assert shown == ["the cat sat"]
    dropped = _final_after(StreamingTranscriber(settings), [words("the cat sat", 0.0, 0.3), words("the cat", 0.0, 0.3)])
    assert dropped == ["the cat"]


def _update_then_pause(read_pause_s: float, confirm: bool = True) -> tuple[StreamingTranscriber, DecodeRequest | None]:
    """2 s of speech; an update that read ``read_pause_s`` of the pause after it ("one two
    three four", applied with ``confirm``); then the rest of a 0.8 s pause: the decode due
    then (``None``: none)."""
    policy = StreamingTranscriber(
        StreamSettings(update_interval_s=0.5, end_silence_s=0.6, confirm_age_s=None, reuse_final_s=0.4)
    )
    feed(policy, 2.0, SPEECH)
    feed(policy, read_pause_s, SILENCE)
    update = policy.next_decode()
    assert update is not None and not update.final
    policy.apply(update, words("one two three four", 0.4, 0.4), confirm=confirm)
    assert finals(policy.events()) == []  # the first decode confirms nothing
    feed(policy, 0.8 - read_pause_s, SILENCE)
    return policy, policy.next_decode(partial=False)


def test_a_final_at_a_pause_takes_the_words_of_an_update_that_read_the_pause() -> None:
    """An update that read ``reuse_final_s`` of the pause after the speech heard everything a
    final decode would: its words become the final at once, with no decode; an update that
    read less of the pause (its last word may be cut), or one that could only show its words
    (``confirm=False``: a language not settled), gets the final decoded."""
    policy, final = _update_then_pause(0.5)
    assert final is None, "no decode: the update's words are the final"
    assert finals(policy.events()) == ["one two three four"]
    feed(policy, 0.5, SILENCE)
    assert policy.next_decode() is None, "the segment is closed: no decode until speech"
    for read_pause_s, confirm in ((0.2, True), (0.5, False)):
        policy, final = _update_then_pause(read_pause_s, confirm)
        assert final is not None and final.final, (read_pause_s, confirm)
        policy.apply(final, words("one two three four", 0.4, 0.4))
        assert finals(policy.events()) == ["one two three four"]


def test_a_final_is_decoded_when_the_last_update_left_speech_without_words() -> None:
    """An update whose words stop more than ``REUSE_GAP_S`` before the end of the speech
    (a word it did not read yet) is no final: the final is decoded."""
    policy = StreamingTranscriber(
        StreamSettings(update_interval_s=0.5, end_silence_s=0.6, confirm_age_s=None, reuse_final_s=0.4)
    )
    feed(policy, 3.0, SPEECH)
    feed(policy, 0.5, SILENCE)
    update = policy.next_decode()
    assert update is not None and not update.final
    policy.apply(update, words("one two", 0.2, 0.4))  # ends at 0.9 s: 2 s of speech unread
    feed(policy, 0.3, SILENCE)
    final = policy.next_decode(partial=False)
    assert final is not None and final.final


def test_finish_flushes_once_and_stops() -> None:
    """finish() yields exactly one final decode, then nothing, even mid-speech."""
    policy = StreamingTranscriber(StreamSettings())
    feed(policy, 2.0, SPEECH)
    policy.finish()
    request = policy.next_decode()
    assert request is not None and request.final
    policy.apply(request, words("last words", 0.5))
    revision = policy.next_revision()
    assert revision is not None and revision.revision, "the utterance is decoded once more as a whole"
    assert revision.draft == "last words", "its first text is the decoder's draft"
    policy.apply(revision, words("last words", 0.5))
    assert policy.next_decode() is None
    events = policy.events()
    assert finals(events) == ["last words"]
    assert [e.finals for e in events if isinstance(e, Revision)] == [None], "the same text is not sent again"


def test_buffer_stays_bounded_in_a_long_monologue() -> None:
    """Hours of unbroken speech never grow the re-decoded buffer beyond the trim limits."""
    settings = StreamSettings(update_interval_s=1.0)
    policy = StreamingTranscriber(settings)
    t = 0.0
    for k in range(300):
        feed(policy, 1.0, SPEECH)
        t += 1.0
        request = policy.next_decode()
        if request is None:
            continue
        # a sentence of three words every second, ending with a full stop
        hyp = [w for s in range(int(request.window.start_s), int(t)) for w in words(f"word{s} a b.", s, 0.3)]
        policy.apply(request, hyp)
        policy.events()
        assert policy.buffer_s <= settings.force_final_s + 1.0, k
    assert policy.buffer_s <= settings.trim_after_s + 2.0


def test_a_forced_final_that_hears_nothing_moves_on() -> None:
    """Speech the decoder returns no words for (guards dropped every window) fills the buffer
    to ``force_final_s``; the forced final confirms nothing and must still shrink the buffer,
    or every later update would be the same final decode, for ever (a server once spun so)."""
    settings = StreamSettings(update_interval_s=1.0)
    policy = StreamingTranscriber(settings)
    decodes = 0
    for _ in range(60):
        feed(policy, 1.0, SPEECH)
        for _ in range(3):  # a session's step decodes finals until none is due
            request = policy.next_decode()
            if request is None:
                break
            decodes += 1
            policy.apply(request, [])
            if not request.final:
                break
        else:
            raise AssertionError("a final decode was due again at once, with no new audio")
        assert policy.buffer_s <= settings.force_final_s + 1.0
    assert decodes <= 60


def _paused(context_s: float = 3.0) -> StreamingTranscriber:
    """A policy that confirmed "good morning." (its final drained), then heard a 3 s pause:
    the silence is cut out of the buffer and, with ``context_s``, the speech kept as context."""
    policy = StreamingTranscriber(
        StreamSettings(update_interval_s=1.0, end_silence_s=0.6, keep_silence_s=1.0, context_s=context_s)
    )
    feed(policy, 1.0, SPEECH)
    feed(policy, 0.8, SILENCE)
    first = policy.next_decode()
    assert first is not None and first.prompt is None
    policy.apply(first, words("good morning.", 0.1))
    assert finals(policy.events()) == ["good morning."]
    feed(policy, 3.0, SILENCE)
    return policy


def test_a_word_read_in_a_spliced_context_is_not_old_enough() -> None:
    """The pause cut out between a spliced context and the new speech is no audio the decoder
    read: a word placed in the context (a word straddling the join, or invented in its
    pre-roll) is not confirmed by age from the first decode after the pause."""
    policy = _paused()
    feed(policy, 1.0, SPEECH)
    request = policy.next_decode()
    assert request is not None and not request.final and len(request.window.pieces) == 2
    context_end = request.window.pieces[0].end_s
    assert request.end_s - context_end > 2.5  # by stream time alone the word would be old
    heard = [Word(context_end - 0.1, context_end, " How", 0.9), *words("however we", request.end_s - 0.9)]
    policy.apply(request, heard)
    assert finals(policy.events()) == []


def _after_a_pause(context_s: float) -> DecodeRequest:
    policy = _paused(context_s)
    revision = policy.next_revision()
    assert revision is not None and revision.revision
    policy.apply(revision, words("good morning.", 0.1))
    feed(policy, 1.0, SPEECH)
    request = policy.next_decode()
    assert request is not None
    return request


def test_prompt_only_holds_words_outside_the_window() -> None:
    """Confirmed words become the prompt only once their audio has left the decoded window."""
    spliced = _after_a_pause(context_s=3.0)
    assert len(spliced.window.pieces) == 2, "confirmed speech spliced in front of the new words"
    assert spliced.window.duration_s < 3.0, "the 3 s pause is not decoded"
    assert spliced.prompt is None, "its words are in the window, so not in the prompt"
    plain = _after_a_pause(context_s=0.0)
    assert len(plain.window.pieces) == 1
    assert plain.prompt == "good morning."


def test_a_final_decode_that_stops_in_the_spliced_context_is_run_again_without_it() -> None:
    """Whisper read the context spliced in front ("good morning.") and ended the text there,
    as tiny.en did on 30 s of new speech after "So thanks.": nothing of the new speech is
    lost; the final decode runs again without the context and its words are confirmed."""
    policy = _paused()
    feed(policy, 2.0, SPEECH)
    feed(policy, 0.8, SILENCE)
    final = policy.next_decode(partial=False)
    assert final is not None and final.final and len(final.window.pieces) == 2
    policy.apply(final, words("good morning.", 0.1))  # the context's words, then end of text
    assert not finals(policy.events())
    again = policy.next_decode(partial=False)
    assert again is not None and again.final and len(again.window.pieces) == 1, "without the context"
    policy.apply(again, words("how are you?", 4.9))
    assert finals(policy.events()) == ["how are you?"]


def test_an_update_that_reads_only_the_context_drops_it_once_enough_speech_is_heard() -> None:
    """An interim update reading nothing past the spliced context keeps the context while
    the new speech is short (a word just begun), and drops it after 2 s of speech."""
    policy = _paused()
    feed(policy, 1.0, SPEECH)
    short = policy.next_decode()
    assert short is not None and not short.final and len(short.window.pieces) == 2
    policy.apply(short, words("good morning.", 0.1))
    feed(policy, 1.5, SPEECH)
    longer = policy.next_decode()
    assert longer is not None and len(longer.window.pieces) == 2, "kept after 1 s of speech"
    policy.apply(longer, words("good morning.", 0.1))
    feed(policy, 1.0, SPEECH)
    plain = policy.next_decode()
    assert plain is not None and len(plain.window.pieces) == 1, "dropped after 2.5 s"


def test_a_final_with_nothing_new_after_confirmed_words_is_not_run_again() -> None:
    """The interim updates after the context already confirmed the new words: a final
    decode that adds nothing is normal, and is not decoded a second time."""
    policy = _paused()
    for _ in range(3):
        feed(policy, 1.0, SPEECH)
        update = policy.next_decode()
        assert update is not None and not update.final
        policy.apply(update, words("good morning.", 0.1) + words("how are you? fine", 4.9))
    assert policy._committed_end_s > 4.9, "confirmed past the context"
    feed(policy, 0.8, SILENCE)
    final = policy.next_decode(partial=False)
    assert final is not None and final.final and len(final.window.pieces) == 2
    policy.apply(final, words("good morning.", 0.1) + words("how are you?", 4.9))
    assert policy.next_decode(partial=False) is None, "no second final decode"


def test_a_pause_inside_one_chunk_of_audio_ends_the_utterance() -> None:
    """A session behind real time gets a pause and the next speech in one push: the pause
    still ends the utterance (checked frame by frame, not only at the chunk's end)."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0))
    _confirm(policy, "the cat sad on", 3)
    feed(policy, 0.8, SILENCE)
    final = policy.next_decode()
    assert final is not None and final.final
    policy.apply(final, words("the cat sad on", 0.0, 0.3))
    n = round(2.0 * SR)
    probs = np.r_[np.full(n // 512 // 2, SILENCE), np.full(n // 512 - n // 512 // 2, SPEECH)].astype(np.float32)
    policy.push(np.zeros(n, np.float32), probs)  # 1 s more of silence (1.8 s in all), then speech
    assert policy.next_revision() is not None


def test_punctuation_alone_is_never_a_final() -> None:
    """A decode that opens with a mark (tiny.en heard "." after JFK's "country.") does not
    make a final of it; a mark inside a decode stays with its words."""
    policy = StreamingTranscriber(StreamSettings(end_silence_s=0.6))
    feed(policy, 1.5, SPEECH)
    feed(policy, 0.8, SILENCE)
    request = policy.next_decode()
    assert request is not None and request.final
    policy.apply(request, words("ask your country.", 0.1))
    assert finals(policy.events()) == ["ask your country."]
    feed(policy, 1.5, SPEECH)
    feed(policy, 0.8, SILENCE)
    request = policy.next_decode()
    assert request is not None and request.final
    policy.apply(request, [Word(2.4, 2.5, ".", 0.4), Word(2.5, 2.6, " …", 0.4), *words("and then", 2.7)])
    assert finals(policy.events()) == ["and then"]
    feed(policy, 1.5, SPEECH)
    feed(policy, 0.8, SILENCE)
    request = policy.next_decode()
    assert request is not None and request.final
    policy.apply(request, [Word(4.7, 4.8, ".", 0.4)])
    assert finals(policy.events()) == []
    feed(policy, 1.5, SPEECH)
    feed(policy, 0.8, SILENCE)
    request = policy.next_decode()
    assert request is not None and request.final
    policy.apply(request, [*words("for your country.", 6.4), Word(7.6, 7.8, " .", 0.4), Word(7.8, 7.9, "?", 0.4)])
    assert finals(policy.events()) == ["for your country."]


def test_a_title_does_not_end_the_caption_line() -> None:
    """ "Mr." confirmed at the end of an update stays in its segment: the words after it
    extend the same caption line; "U.S." followed by a capital closes the line it ends."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0))
    hyps = ["I met Mr.", "I met Mr. Quilter in", "I met Mr. Quilter in the U.S.", "I met Mr. Quilter in the U.S. The"]
    hyps += ["I met Mr. Quilter in the U.S. The end was near"]
    events: list[PartialEvent | FinalEvent | Revision] = []
    for text in hyps:
        feed(policy, 1.0, SPEECH)
        request = policy.next_decode()
        assert request is not None
        policy.apply(request, words(text, 0.0, 0.3))
        events += policy.events()
    got = [e for e in events if isinstance(e, FinalEvent)]
    by_segment: dict[int, str] = {}
    for e in got:
        by_segment[e.segment] = (by_segment.get(e.segment, "") + "".join(w.text for w in e.words)).strip()
    lines = list(by_segment.values())
    assert lines[0] == "I met Mr. Quilter in the U.S.", lines
    assert all(not line.endswith("Mr.") for line in lines)
    assert len(lines) == 2 and lines[1].startswith("The"), lines


def _confirm(policy: StreamingTranscriber, text: str, seconds: float, start_s: float = 0.0) -> None:
    """Speech for ``seconds`` whose interim decodes all read ``text`` (spread over it from
    stream time ``start_s``)."""
    for _ in range(int(seconds)):
        feed(policy, 1.0, SPEECH)
        request = policy.next_decode()
        assert request is not None and not request.revision
        policy.apply(request, words(text, start_s, 0.3))


def test_an_utterance_is_decoded_again_after_a_pause_and_replaces_its_finals() -> None:
    """Words confirmed from short windows ("the cat sad") are replaced, once a pause ends the
    utterance, by one decode of all of it; commas' pauses do not end it."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0))
    _confirm(policy, "the cat sad on", 3.0)
    assert finals(policy.events()) == ["the cat sad on"]
    feed(policy, 0.8, SILENCE)  # a short pause: the final decode, the utterance goes on
    final = policy.next_decode()
    assert final is not None and final.final
    policy.apply(final, words("the cat sad on", 0.0, 0.3))
    assert finals(policy.events()) == []
    assert policy.next_decode() is None, "0.8 s is not the end of the utterance"
    feed(policy, 1.0, SILENCE)
    revision = policy.next_revision()
    assert revision is not None and revision.revision and not revision.final
    assert revision.window.start_s == 0.0 and revision.window.end_s <= 1.4, "the utterance's audio, padded"
    policy.apply(revision, words("the cat sat on. A mat", 0.0, 0.3)[:4])
    events = policy.events()
    revised = [e for e in events if isinstance(e, Revision)]
    assert len(revised) == 1 and revised[0].finals is not None
    assert finals(list(revised[0].finals)) == ["the cat sat on."]
    assert policy.next_decode() is None
    feed(policy, 1.0, SPEECH)
    later = policy.next_decode()
    assert later is not None and later.prompt is None, "the revised words are in the decoded window"


def test_a_revision_that_drops_or_loops_is_not_used() -> None:
    """A revision much shorter (a dropped stretch) or longer (a loop) than the text it would
    replace is refused: the first text stands."""
    for revised in ("the", "the cat sat on a mat a mat a mat a mat a mat"):
        policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0))
        _confirm(policy, "the cat sad on", 3.0)
        feed(policy, 0.8, SILENCE)
        final = policy.next_decode()
        assert final is not None
        policy.apply(final, words("the cat sad on", 0.0, 0.3))
        feed(policy, 1.0, SILENCE)
        revision = policy.next_revision()
        assert revision is not None and revision.revision
        policy.apply(revision, words(revised, 0.0, 0.08))
        assert [e.finals for e in policy.events() if isinstance(e, Revision)] == [None], revised


def test_long_speech_without_pauses_is_revised_at_a_sentence_end() -> None:
    """Unbroken speech is revised once ``revise_after_s`` of it is confirmed and a sentence ends."""
    settings = StreamSettings(update_interval_s=1.0, revise_after_s=4.0)
    policy = StreamingTranscriber(settings)
    revisions = 0
    for t in range(1, 12):
        feed(policy, 1.0, SPEECH)
        revision = policy.next_revision()
        if revision is not None:
            revisions += 1
            assert revision.revision and revision.window.duration_s <= 4.0 + settings.update_interval_s + 6.0
            assert policy.next_revision() is None, "one revision at a time"
            policy.apply(revision, [])
        request = policy.next_decode()
        assert request is not None and not request.revision
        hyp = [w for s in range(int(request.window.start_s), t) for w in words(f"word{s} a b.", s, 0.3)]
        policy.apply(request, hyp)
        policy.events()
    assert revisions >= 1


def test_a_revision_in_unbroken_speech_ends_where_the_next_word_starts() -> None:
    """An utterance revised at a sentence end while the speech goes on is decoded up to the
    next word, not into it, and a revised word that runs into a word confirmed meanwhile
    (the revision heard "a yes." where the next final reads "Yankee") ends where it starts:
    the finals stay in order on the audio clock."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0, revise_after_s=4.0))
    shown: list[list[Word]] = []
    revision: DecodeRequest | None = None
    for t in range(1, 9):
        feed(policy, 1.0, SPEECH)
        revision = revision or policy.next_revision()
        request = policy.next_decode()
        assert request is not None
        heard = range(int(request.window.start_s), t)
        policy.apply(request, [w for s in heard for w in words(f"word{s} a b.", s, 0.3)])
        shown += [list(e.words) for e in policy.events() if isinstance(e, FinalEvent)]
    assert revision is not None and revision.replaces == 5, "word0 a b. ... word4 a b."
    next_start = shown[5][0].start_s  # word5, confirmed while the revision was out
    assert revision.window.end_s <= next_start
    decoded = [w for s in range(5) for w in words(f"word{s} a c.", s, 0.3)] + [Word(4.98, 5.3, " yes.", 0.5)]
    policy.apply(revision, decoded)
    (revised,) = [e for e in policy.events() if isinstance(e, Revision)]
    assert revised.finals is not None
    on_screen = [w for e in revised.finals for w in e.words] + [w for f in shown[5:] for w in f]
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(on_screen)), on_screen


def test_nothing_is_confirmed_from_the_first_second_of_speech() -> None:
    """Two agreeing decodes of a window shorter than ``min_confirm_s`` confirm nothing."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=0.5, min_confirm_s=2.0))
    for _ in range(3):
        feed(policy, 0.5, SPEECH)
        request = policy.next_decode()
        assert request is not None
        policy.apply(request, words("desire and", 0.0, 0.3))
    assert finals(policy.events()) == [], "1.5 s of audio"
    feed(policy, 0.5, SPEECH)
    request = policy.next_decode()
    assert request is not None
    policy.apply(request, words("desire and", 0.0, 0.3))
    assert finals(policy.events()) == ["desire and"]


def test_a_full_stop_at_the_end_of_the_audio_waits() -> None:
    """An agreed word with a full stop, less than ``mark_settle_s`` before the audio ends and
    with no agreed word after it, is not confirmed yet: the window may just stop mid-sentence."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=0.5, min_confirm_s=0.0, mark_settle_s=1.0))
    feed(policy, 2.0, SPEECH)
    for _ in range(2):
        request = policy.next_decode()
        assert request is not None
        policy.apply(request, words("in all our blood.", 0.5, 0.3))  # "blood." ends at 1.7 s
        feed(policy, 0.5, SPEECH)
    assert finals(policy.events()) == ["in all our"], "0.8 s after 'blood.' at the second decode"
    request = policy.next_decode()
    assert request is not None
    policy.apply(request, words("in all our blood.", 0.5, 0.3))
    assert finals(policy.events()) == ["blood."], "1.3 s after it"


def test_a_revision_never_asks_for_more_than_whisper_decodes_at_once() -> None:
    """Unbroken speech with no sentence end, and revisions applied late (a busy worker):
    every revision window stays within 30 s."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0))
    out: list[tuple[int, DecodeRequest]] = []
    windows: list[float] = []
    for t in range(1, 120):
        feed(policy, 1.0, SPEECH)
        if (revision := policy.next_revision()) is not None:
            windows.append(revision.window.duration_s)
            out.append((t, revision))
        if out and t - out[0][0] >= 12:  # applied 12 s after it was handed out
            policy.apply(out.pop(0)[1], [])
        request = policy.next_decode()
        assert request is not None
        hyp = [w for s in range(int(request.window.start_s), t) for w in words(f"w{s} a b", s, 0.3)]
        policy.apply(request, hyp)
        policy.events()
    assert windows and max(windows) <= 30.0, windows


def _utterance(policy: StreamingTranscriber, text: str, start_s: float, seconds: int) -> None:
    """Speech for ``seconds`` from stream time ``start_s`` whose decodes all read ``text``,
    then a pause that ends the utterance (its final decode applied)."""
    _confirm(policy, text, seconds, start_s)
    feed(policy, 0.8, SILENCE)
    final = policy.next_decode()
    assert final is not None and final.final
    policy.apply(final, words(text, start_s, 0.3))
    feed(policy, 1.0, SILENCE)


def test_utterances_that_ended_while_one_was_decoded_are_revised_each_on_its_own() -> None:
    """A busy server: two utterances end while the first one's revision is out. Each is
    then decoded again on its own, as with idle workers (Whisper drops sentences of windows
    joined across pauses), and each revision replaces only its own utterance's finals."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0))
    _utterance(policy, "the cat sad on", 0.0, 3)
    first = policy.next_revision()
    assert first is not None and first.window.end_s <= 1.4
    _utterance(policy, "a mad too", 4.8, 3)
    _utterance(policy, "and slept", 9.6, 3)
    assert policy.revision_due and policy.next_revision() is None, "one revision at a time"
    policy.events()
    policy.apply(first, words("the cat sat on", 0.0, 0.3))
    second = policy.next_revision()
    assert second is not None and second.replaces == 1
    assert second.window.start_s > 4.0 and second.window.end_s < 9.6, "the second utterance's audio alone"
    policy.apply(second, words("a mat too.", 4.8, 0.3))
    third = policy.next_revision()
    assert third is not None and third.replaces == 1 and third.window.start_s > 8.5
    policy.apply(third, words("and slept.", 9.6, 0.3))
    texts = [finals(list(e.finals)) for e in policy.events() if isinstance(e, Revision) and e.finals]
    assert texts == [["the cat sat on"], ["a mat too."], ["and slept."]]
    assert policy.next_revision() is None


def test_revised_finals_keep_the_segments_of_the_finals_they_replace() -> None:
    """A revision lands while the next utterance's segment is open: its finals take the
    segments of the finals they replace (a sentence each, as before), and the open segment
    is neither taken nor closed, so the live sentence stays in one segment."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0))
    _utterance(policy, "the cat sad. On a mat", 0.0, 3)
    replaced = [(e.segment, finals([e])) for e in policy.events() if isinstance(e, FinalEvent)]
    assert replaced[0] == (0, ["the cat sad."]) and {seg for seg, _ in replaced[1:]} == {1}, replaced
    revision = policy.next_revision()
    assert revision is not None and revision.replaces == len(replaced)
    _confirm(policy, "and then slept", 2, 4.8)
    live = [e for e in policy.events() if isinstance(e, FinalEvent)]
    policy.apply(revision, words("the cat sat. On a mat.", 0.0, 0.3))
    _confirm(policy, "and then slept well", 2, 4.8)
    events = policy.events()
    revised = [e for e in events if isinstance(e, Revision) and e.finals]
    assert [(f.segment, finals([f])) for f in revised[0].finals or ()] == [(0, ["the cat sat."]), (1, ["On a mat."])]
    live += [e for e in events if isinstance(e, FinalEvent)]
    assert live and {e.segment for e in live} == {2}, [(e.segment, finals([e])) for e in live]


def test_a_pause_heard_before_its_final_still_ends_the_utterance() -> None:
    """A session behind real time: the utterance's final decode comes after its pause and
    the next speech were pushed. The pause still ends it: revised alone, not with the next."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0))
    _utterance(policy, "the cat sad on", 0.0, 3)
    first = policy.next_revision()
    assert first is not None
    _confirm(policy, "a mad too", 3, 4.8)
    feed(policy, 2.0, SILENCE)  # the pause, then the next speech, before the final decode
    final = policy.next_decode()
    assert final is not None and final.final
    feed(policy, 2.0, SPEECH)
    policy.apply(final, words("a mad too", 4.8, 0.3))
    policy.apply(first, words("the cat sat on", 0.0, 0.3))
    second = policy.next_revision()
    assert second is not None and second.replaces == 1, "due: its pause was heard"
    assert second.window.end_s < 8.0


def test_an_utterance_whose_final_came_before_stop_is_still_revised() -> None:
    """Speech finalised at a short pause, then the stream stops before the pause is long
    enough to end the utterance: nothing is pending, and the utterance is revised anyway."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0))
    _confirm(policy, "the cat sad on", 3.0)
    feed(policy, 0.8, SILENCE)
    final = policy.next_decode()
    assert final is not None and final.final
    policy.apply(final, words("the cat sad on", 0.0, 0.3))
    assert policy.next_revision() is None, "0.8 s is not the end of the utterance"
    policy.finish()
    assert policy.next_decode() is None, "no speech pending"
    revision = policy.next_revision()
    assert revision is not None and revision.revision


def test_an_utterance_confirmed_past_whisper_s_window_at_once_is_revised_in_parts() -> None:
    """A session far behind real time confirms 40 s of sentences in one final decode: the
    utterance goes out for revision as its first whole finals that fit 28 s, then the rest
    (it was once one empty 30 s-too-long request, and the whole stretch kept its first text)."""
    policy = StreamingTranscriber(StreamSettings(update_interval_s=1.0))
    feed(policy, 40.0, SPEECH)
    feed(policy, 0.8, SILENCE)
    final = policy.next_decode()
    assert final is not None and final.final
    policy.apply(final, [w for s in range(40) for w in words(f"W{s} a b.", s, 0.3)])
    emitted = len(finals(policy.events()))
    assert emitted == 40
    feed(policy, 1.0, SILENCE)
    parts: list[DecodeRequest] = []
    while (revision := policy.next_revision()) is not None:
        parts.append(revision)
        policy.apply(revision, [])
    assert [r.replaces for r in parts] == [28, 12]
    assert all(0 < r.window.duration_s <= 30.0 for r in parts)
    assert parts[0].window.start_s <= 0.0 + 1e-9 and parts[1].window.end_s >= 39.9
