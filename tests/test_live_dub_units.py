"""The live speech schedule (sans-I/O): in order, no overlap, bounded delay."""

from __future__ import annotations

import itertools

import pytest

from voicestream.function_words import LEANING, PREPOSITIONS
from voicestream.live.speech.parts import FIRST_WORDS, GROWTH, MIN_WORDS, split_parts
from voicestream.live.speech.schedule import ScheduleSettings, SpeechPart, SpeechScheduler


def test_clips_play_in_order_without_overlap() -> None:
    sched = SpeechScheduler(ScheduleSettings(gap_s=0.1))
    a = sched.place(SpeechPart(0, 0.0, 2.0, 3.0), ready_s=2.5)
    b = sched.place(SpeechPart(1, 2.2, 3.0, 2.0), ready_s=3.4)  # ready while a still plays
    assert (a.start_s, a.tempo) == (2.5, 1.0)
    assert b.start_s == pytest.approx(a.end_s + 0.1) and b.start_s >= b.clip.source_start_s
    c = sched.place(SpeechPart(2, 10.0, 11.0, 1.0), ready_s=11.5)  # after a pause: at once
    assert c.start_s == 11.5 and c.delay_s == pytest.approx(0.5)


def _run(speech_s: float, n: int = 60) -> tuple[list[float], int, ScheduleSettings]:
    """``n`` back-to-back 2 s source sentences whose translations last ``speech_s``."""
    s = ScheduleSettings(max_delay_s=4.0, max_tempo=1.35, skip_delay_s=8.0, gap_s=0.0)
    sched = SpeechScheduler(s)
    delays, skipped = [], 0
    for i in range(n):
        t = 2.0 * i
        placed = sched.place(SpeechPart(i, t, t + 2.0, speech_s), ready_s=t + 2.5)
        assert placed.tempo <= s.max_tempo
        skipped += placed.skipped
        if not placed.skipped:
            delays.append(placed.delay_s)
    return delays, skipped, s


def test_speeding_up_absorbs_a_moderate_backlog() -> None:
    delays, skipped, s = _run(2.5)  # 25 % longer: 1.35x is enough
    assert skipped == 0
    assert max(delays) <= s.max_delay_s + 0.5
    assert max(delays[-20:]) <= max(delays[:20]) + 1e-9  # does not grow


def test_skipping_bounds_a_backlog_speed_cannot_absorb() -> None:
    delays, skipped, s = _run(3.0)  # 50 % longer: even 1.35x falls behind
    assert 0 < skipped < 20
    assert max(delays) <= s.skip_delay_s
    assert max(delays[-20:]) <= max(delays[:30]) + 1e-9


def test_sentences_are_cut_into_clauses_of_a_few_words() -> None:
    text = "Y así, mis compañeros americanos, no preguntéis qué puede hacer vuestro país por vosotros; preguntad."
    parts = split_parts(text)
    assert parts == [
        "Y así, mis compañeros americanos,", "no preguntéis qué puede hacer vuestro país por vosotros; preguntad."
    ]  # fmt: skip
    assert " ".join(parts).split() == text.split()
    assert split_parts("Hola.") == ["Hola."] and split_parts("Uno, dos, tres, cuatro.") == ["Uno, dos, tres, cuatro."]
    assert split_parts("Sí. Muy bien, gracias por venir hoy. Adiós a todos, amigos.") == [
        "Sí. Muy bien, gracias por venir hoy.", "Adiós a todos, amigos."]  # fmt: skip
    japanese = "今日はとても良い天気ですね、みんなで公園へ散歩に行きましょう。"
    assert split_parts(japanese) == ["今日はとても良い天気ですね、", "みんなで公園へ散歩に行きましょう。"]
    assert "".join(split_parts("良い天気ですね、行こう。")) == "良い天気ですね、行こう。"


LONG = {
    "es": "Cuando llegamos a la casa la puerta estaba abierta y no había nadie dentro así que entramos despacio y "
    "miramos en todas las habitaciones sin encontrar a nadie.",
    "en": "He walked slowly down the long road towards the old house where his mother had lived for many years "
    "before the war began and the family left the valley.",
}


@pytest.mark.parametrize("language", sorted(LONG))
def test_a_long_clause_starts_with_a_short_part_and_grows(language: str) -> None:
    text = LONG[language]
    parts = split_parts(text, language)
    sizes = [len(part.split()) for part in parts]
    assert " ".join(parts).split() == text.split()
    assert MIN_WORDS <= sizes[0] <= FIRST_WORDS + 1, parts  # sounds soon
    assert all(b <= max(FIRST_WORDS, a) * GROWTH + 1 for a, b in itertools.pairwise(sizes)), parts
    assert min(sizes) >= MIN_WORDS and len(parts) >= 3, parts
    leaning = LEANING[language] | PREPOSITIONS[language]
    assert not any(part.split()[-1].lower() in leaning for part in parts), parts  # "the | house" never


def test_cuts_fall_before_clause_openers() -> None:
    first, second = split_parts(LONG["es"], "es")[:2]
    assert (first, second) == (
        "Cuando llegamos a la casa",
        "la puerta estaba abierta y no había nadie dentro",
    )  # not "así | que"
    said = split_parts("She told all of us that he had gone home early.", "en")
    assert said == ["She told all of us", "that he had gone home early."]
    assert split_parts("She told me that he had gone home.", "en") == [
        "She told me that he had gone home."
    ]  # not "he | had"
    # nowhere good to cut a short sentence: whole ("que | el" and "por | dios" would be cut after a leaning word)
    assert split_parts("Capitán frere dice que el scenery es delicioso.", "es") == [
        "Capitán frere dice que el scenery es delicioso."]  # fmt: skip
    assert len(split_parts(" ".join(["palabra"] * 20), "xx")) >= 3  # any language: cut between words


def test_later_parts_follow_closely_and_are_never_skipped() -> None:
    s = ScheduleSettings(max_delay_s=3.0, skip_delay_s=8.0, gap_s=0.15, part_gap_s=0.08)
    sched = SpeechScheduler(s)
    first = sched.place(SpeechPart(0, 0.0, 5.0, 2.0), ready_s=6.0)
    second = sched.place(SpeechPart(0, 0.0, 5.0, 7.0, part=1), ready_s=7.0)
    assert second.start_s == pytest.approx(first.end_s + 0.08)
    third = sched.place(SpeechPart(0, 0.0, 5.0, 1.0, part=2), ready_s=12.0)  # 9 s after the source ended
    assert not third.skipped and third.tempo == s.max_tempo
    late = sched.place(SpeechPart(1, 6.0, 6.5, 1.0), ready_s=7.0)  # a new sentence that far behind is skipped
    assert late.skipped


def test_the_voice_is_asked_to_speak_faster_only_when_speech_falls_behind() -> None:
    s = ScheduleSettings(speed_from_s=1.5, max_speed=1.25, max_delay_s=3.0, gap_s=0.0)
    sched = SpeechScheduler(s)
    assert sched.speed(source_end_s=2.0, now_s=2.7) == 1.0  # nothing playing: it would start at once
    sched.place(SpeechPart(0, 0.0, 2.0, 6.0), ready_s=2.7)  # plays until 8.7
    assert sched.speed(source_end_s=7.5, now_s=8.0) == 1.0  # would start 1.2 s after its sentence
    assert sched.speed(source_end_s=6.45, now_s=7.0) == pytest.approx(1.125)  # 2.25 s: halfway up
    assert sched.speed(source_end_s=4.0, now_s=5.0) == pytest.approx(1.25)  # 4.7 s behind: the fastest
    assert sched.speed(source_end_s=4.0, now_s=20.0) == 1.25  # late itself, not behind others: never over
