"""Policy of translation: laying translations onto source timing, engine choice, output (no models)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tests.subtitle_checks import ParsedCue, rule_violations
from voicestream.errors import OptionError
from voicestream.messages import Segment, Transcript, Word
from voicestream.sentences import group_sentences
from voicestream.subtitles.formats import to_json, to_txt
from voicestream.translate import apertium
from voicestream.translate.apertium import ApertiumTranslator, Route, clean, find_routes, installed_modes
from voicestream.translate.base import Sentence
from voicestream.translate.choose import choose
from voicestream.translate.layout import bilingual_cues, translated_cues, translated_words


def sentence(text: str, start: float, step: float = 0.4, pause_after: int | None = None) -> Segment:
    """A segment whose words are ``step`` s apart; a 1 s pause after word ``pause_after``."""
    words, t = [], start
    for k, token in enumerate(text.split(" ")):
        words.append(Word(round(t, 3), round(t + step * 0.8, 3), " " + token, 0.9))
        t += step + (1.0 if k == pause_after else 0.0)
    return group_sentences(words)[0]


def test_translated_words_stay_inside_the_spoken_words() -> None:
    s = sentence("And so my fellow Americans ask not what your country can do for you.", 1.0, pause_after=4)
    words = translated_words(s, "Y así, mis compatriotas, no pregunten qué puede hacer su país por ustedes.", "es")
    assert [w.text for w in words][:2] == [" Y", " así,"]
    assert words[0].start_s == s.start_s and words[-1].end_s == s.end_s
    assert all(a.end_s <= b.start_s + 1e-6 and a.start_s <= a.end_s for a, b in itertools.pairwise(words))
    pause = (s.words[4].end_s, s.words[5].start_s)
    assert not any(pause[0] < (w.start_s + w.end_s) / 2 < pause[1] for w in words)  # nothing placed in the pause


def test_clauses_align_when_both_sides_have_them() -> None:
    s = sentence("And so, my fellow Americans, ask not what your country can do for you,", 0.0)
    words = translated_words(s, "Y tan, mis americanos amigos, pide no qué vuestro país puede hacer para ti,", "es")
    ask = next(w for w in s.words if w.text == " ask")
    pide = next(w for w in words if w.text == " pide")
    assert pide.start_s == ask.start_s  # the third clause starts where the source's third clause starts


def test_languages_without_spaces_are_split_per_character() -> None:
    s = sentence("The room was used as a mortuary.", 0.0)
    words = translated_words(s, "这个房间被用作停尸房。", "zh")
    assert "".join(w.text for w in words) == "这个房间被用作停尸房。" and len(words) == 10


def test_translated_cues_follow_the_subtitle_rules() -> None:
    segments = [
        sentence("We went down to the river this morning with the whole family and the dog.", 0.5),
        sentence("Did you see any fish there?", 7.0),
    ]
    segments = [
        Segment(s.start_s, s.end_s, s.words, None, t)
        for s, t in zip(
            segments,
            ["Bajamos al río esta mañana con toda la familia y el perro, que corría feliz.", "¿Viste algún pez allí?"],
            strict=True,
        )
    ]
    cues = translated_cues(segments, "es", 12.0)
    parsed = [ParsedCue(c.start_s, c.end_s, list(c.lines)) for c in cues]
    assert rule_violations(parsed, 12.0) == []
    assert " ".join(" ".join(c.lines) for c in cues).split() == " ".join(s.translation or "" for s in segments).split()
    both = bilingual_cues(segments, "es", 12.0)
    assert all(len(c.lines) <= 4 and all(len(line) <= 42 for line in c.lines) for c in both)
    assert "¿Viste algún pez allí?" in both[-1].lines


def test_apertium_pairs_come_from_the_installed_modes(tmp_path: Path) -> None:
    for name in ("eng-spa.mode", "spa-eng.mode", "spa-eng_US.mode", "en-gl.mode", "notes.txt"):
        (tmp_path / name).write_text("")
    assert installed_modes(tmp_path) == {("en", "es"): "eng-spa", ("es", "en"): "spa-eng", ("en", "gl"): "en-gl"}
    assert installed_modes(tmp_path / "missing") == {}


def test_engine_choice_and_its_errors() -> None:
    assert choose("en", "es", None, None).name == "apertium"
    with pytest.raises(OptionError, match="unknown translator 'deepl'"):
        choose("en", "es", "deepl", None)
    with pytest.raises(OptionError, match="already in 'en'"):
        choose("en", "en", None, None)
    with pytest.raises(OptionError, match=r"cannot translate en->de; available: apertium: .*en->es"):
        choose("en", "de", None, None)
    with pytest.raises(OptionError, match="translator 'whisper' cannot translate"):
        choose("es", "en", "whisper", None)  # no Whisper engine given
    assert ApertiumTranslator().translate([], "en", "es") == []


def test_text_and_json_keep_source_and_translation() -> None:
    s = sentence("Hello there.", 0.0)
    t = Transcript("en", 2.0, "base", (Segment(s.start_s, s.end_s, s.words, None, "Hola."),),
                   translation_language="es", translator="apertium")  # fmt: skip
    assert to_txt(t) == "Hola.\n"
    assert to_txt(t, bilingual=True) == "Hello there.\nHola.\n"
    doc = json.loads(to_json(t))
    assert doc["translation"] == {"language": "es", "engine": "apertium"}
    assert doc["segments"][0]["text"] == "Hello there." and doc["segments"][0]["translation"] == "Hola."
    plain = json.loads(to_json(Transcript("en", 2.0, "base", (s,))))
    assert "translation" not in plain and "translation" not in plain["segments"][0]


def test_sentences_are_translated_in_passages_of_at_most_28_s() -> None:
    from voicestream.translate.whisper import passages

    assert passages([5.0, 6.0, 10.0, 8.0, 3.0]) == [[0, 1, 2], [3, 4]]
    assert passages([40.0, 2.0]) == [[0], [1]], "a sentence longer than a passage is one of its own"
    assert passages([]) == []


def _timed(text: str, start: float, step: float = 0.5) -> list[Word]:
    return [Word(start + k * step, start + k * step + 0.4, " " + t, 0.9) for k, t in enumerate(text.split())]


def test_a_passages_english_is_shared_out_by_sentence_not_by_word() -> None:
    """Sentence audio ends at 3 s and 6 s: each English sentence goes whole to the source
    sentence holding most of it, even when its last words' times spill over."""
    from voicestream.translate.whisper import share_out

    words = _timed("He came home late. She was asleep already.", 0.2)  # "late." ends 1.9 s
    words[3:4] = [Word(3.05, 3.2, " late.", 0.9)]  # a rough time past the boundary
    shares = share_out(words, [3.0, 6.0])
    assert [" ".join(w.text.strip() for w in s) for s in shares] == ["He came home late.", "She was asleep already."]


def test_one_english_sentence_over_two_sources_is_split_rather_than_leaving_one_empty() -> None:
    from voicestream.translate.whisper import share_out

    words = _timed("the train left and we walked home in the rain", 0.0)  # 0.0 .. 4.9 s, no end mark
    shares = share_out(words, [2.5, 5.0])
    assert all(shares), "each source sentence gets its words"
    assert [w for s in shares for w in s] == words, "nothing lost or reordered"
    assert shares[1][0].text == " walked"


def test_a_source_sentence_whisper_said_nothing_for_stays_empty_here() -> None:
    """(The translator decodes such a sentence on its own.)"""
    from voicestream.translate.whisper import share_out

    shares = share_out(_timed("Good morning.", 0.1), [2.0, 4.0, 6.0])
    assert [len(s) for s in shares] == [2, 0, 0]


def test_routes_prefer_a_direct_pair_then_the_best_measured_pivot(monkeypatch: pytest.MonkeyPatch) -> None:
    modes = {("en", "es"): "eng-spa", ("es", "pt"): "es-pt", ("en", "ca"): "eng-cat", ("ca", "pt"): "cat-por",
             ("en", "pt"): "eng-por", ("es", "ca"): "spa-cat", ("ca", "en"): "cat-eng"}  # fmt: skip
    monkeypatch.setattr(apertium, "MEASURED_CHRF", {})
    routes = find_routes(modes)
    assert routes["en", "pt"] == Route(("en", "pt"), ("eng-por",))  # direct, though two pivots exist
    assert ("pt", "en") not in routes  # no mode leaves Portuguese
    assert routes["ca", "es"].languages == ("ca", "en", "es")  # the only pivot that joins them
    two = {("ca", "es"): "cat-spa", ("es", "pt"): "es-pt", ("ca", "en"): "cat-eng", ("en", "pt"): "eng-por"}
    unmeasured = find_routes(two)["ca", "pt"]
    assert unmeasured.languages == ("ca", "es", "pt")  # no figures: Spanish first
    assert not unmeasured.offered and unmeasured.chrf is None
    monkeypatch.setattr(apertium, "MEASURED_CHRF", {"apertium:ca-es-pt": 36.0, "apertium:ca-en-pt": 48.0})
    best = find_routes(two)["ca", "pt"]
    assert (best.label, best.modes, best.offered) == ("apertium:ca-en-pt", ("cat-eng", "eng-por"), True)
    monkeypatch.setattr(apertium, "MEASURED_CHRF", {"apertium:ca-es-pt": 20.0})
    low = find_routes(two)["ca", "pt"]
    assert low.label == "apertium:ca-es-pt" and not low.offered  # measured below MIN_CHRF


def test_apertium_marks_never_reach_the_text() -> None:
    assert clean("el *Kowloon #ir @casa  a las 5*3 e-mail") == "el Kowloon ir casa a las 5*3 e-mail"
    # a mark the source itself had is the user's text, not Apertium's
    assert clean("ríe de @john, el #1 *Kowloon", "laughs at @john, the #1 Kowloon") == "ríe de @john, el #1 Kowloon"


def test_a_route_not_offered_is_named_in_the_error_and_given_when_asked_for() -> None:
    translator = ApertiumTranslator(every_route=True)
    hidden = [(s, t) for (s, t), r in translator.routes.items() if not r.offered]
    if not hidden:
        pytest.skip("every installed Apertium route is offered here")
    source, target = hidden[0]
    with pytest.raises(OptionError, match=rf"apertium:{source}-.*-{target} is installed but not offered"):
        choose(source, target, None, None)
    assert choose(source, target, "apertium", None).supports(source, target)


def test_a_pivot_route_translates_english_into_portuguese_through_spanish() -> None:
    """Real Apertium (apertium-eng-spa and apertium-es-pt, as the README installs)."""
    translator = choose("en", "pt", None, None)
    assert isinstance(translator, ApertiumTranslator)
    route = translator.route("en", "pt")
    assert route is not None and route.label == "apertium:en-es-pt"
    text = "To get the best views of Hong Kong, leave the island and head for the Kowloon waterfront opposite."
    (portuguese,) = translator.translate([Sentence(text)], "en", "pt")
    assert {"melhores", "ilha"} <= set(portuguese.lower().replace(",", " ").split()), portuguese
    assert not any(mark in portuguese for mark in "*#@"), portuguese
    assert "Kowloon" in portuguese  # an unknown name passes through unmarked
