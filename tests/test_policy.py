"""The streaming policy with scripted hypotheses (a fake engine; no model, no clock)."""

from __future__ import annotations

import itertools

import numpy as np

from voicestream.messages import Word
from voicestream.streaming.policy import DecodeRequest, StreamingTranscriber, StreamSettings
from voicestream.streaming.protocol import FinalEvent, PartialEvent

SR = 16000
SPEECH, SILENCE = 0.9, 0.05


def feed(policy: StreamingTranscriber, seconds: float, prob: float) -> None:
    """Push ``seconds`` of audio whose VAD frames all have probability ``prob``."""
    n = round(seconds * SR)
    policy.push(np.zeros(n, np.float32), np.full(n // 512, prob, np.float32))


def words(text: str, start: float, step: float = 0.4) -> list[Word]:
    return [Word(start + i * step, start + i * step + 0.3, " " + t, 0.9) for i, t in enumerate(text.split())]


def finals(events: list[PartialEvent | FinalEvent]) -> list[str]:
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


def test_finish_flushes_once_and_stops() -> None:
    """finish() yields exactly one final decode, then nothing, even mid-speech."""
    policy = StreamingTranscriber(StreamSettings())
    feed(policy, 2.0, SPEECH)
    policy.finish()
    request = policy.next_decode()
    assert request is not None and request.final
    policy.apply(request, words("last words", 0.5))
    assert policy.next_decode() is None
    assert finals(policy.events()) == ["last words"]


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


def _after_a_pause(context_s: float) -> DecodeRequest:
    policy = StreamingTranscriber(
        StreamSettings(update_interval_s=1.0, end_silence_s=0.6, keep_silence_s=1.0, context_s=context_s)
    )
    feed(policy, 1.0, SPEECH)
    feed(policy, 0.8, SILENCE)
    first = policy.next_decode()
    assert first is not None and first.prompt is None
    policy.apply(first, words("good morning.", 0.1))
    feed(policy, 3.0, SILENCE)  # a long pause: the silence is cut out of the buffer
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
    events: list[PartialEvent | FinalEvent] = []
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
