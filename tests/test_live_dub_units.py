"""The live speech schedule (sans-I/O): in order, no overlap, bounded delay."""

from __future__ import annotations

import pytest

from voicestream.live_dub.parts import split_parts
from voicestream.live_dub.schedule import Clip, ScheduleSettings, SpeechScheduler


def test_clips_play_in_order_without_overlap() -> None:
    sched = SpeechScheduler(ScheduleSettings(gap_s=0.1))
    a = sched.place(Clip(0, 0.0, 2.0, 3.0), ready_s=2.5)
    b = sched.place(Clip(1, 2.2, 3.0, 2.0), ready_s=3.4)  # ready while a still plays
    assert (a.start_s, a.tempo) == (2.5, 1.0)
    assert b.start_s == pytest.approx(a.end_s + 0.1) and b.start_s >= b.clip.source_start_s
    c = sched.place(Clip(2, 10.0, 11.0, 1.0), ready_s=11.5)  # after a pause: at once
    assert c.start_s == 11.5 and c.delay_s == pytest.approx(0.5)


def _run(speech_s: float, n: int = 60) -> tuple[list[float], int, ScheduleSettings]:
    """``n`` back-to-back 2 s source sentences whose translations last ``speech_s``."""
    s = ScheduleSettings(max_delay_s=4.0, max_tempo=1.35, skip_delay_s=8.0, gap_s=0.0)
    sched = SpeechScheduler(s)
    delays, skipped = [], 0
    for i in range(n):
        t = 2.0 * i
        placed = sched.place(Clip(i, t, t + 2.0, speech_s), ready_s=t + 2.5)
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


def test_later_parts_follow_closely_and_are_never_skipped() -> None:
    s = ScheduleSettings(max_delay_s=3.0, skip_delay_s=8.0, gap_s=0.15, part_gap_s=0.08)
    sched = SpeechScheduler(s)
    first = sched.place(Clip(0, 0.0, 5.0, 2.0), ready_s=6.0)
    second = sched.place(Clip(0, 0.0, 5.0, 7.0, part=1), ready_s=7.0)
    assert second.start_s == pytest.approx(first.end_s + 0.08)
    third = sched.place(Clip(0, 0.0, 5.0, 1.0, part=2), ready_s=12.0)  # 9 s after the source ended
    assert not third.skipped and third.tempo == s.max_tempo
    late = sched.place(Clip(1, 6.0, 6.5, 1.0), ready_s=7.0)  # a new sentence that far behind is skipped
    assert late.skipped
