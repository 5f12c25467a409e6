"""Planning ASR windows from VAD regions, the window time map, and the real VAD on real audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicestream import media
from voicestream.messages import SpeechRegion
from voicestream.vad import SileroVad, Window, plan_windows


def test_regions_merge_up_to_window_limit() -> None:
    """Consecutive regions with short gaps join while the window holds at most 29 s of audio."""
    regions = [SpeechRegion(i * 5.0, i * 5.0 + 4.0) for i in range(10)]
    windows = plan_windows(regions, max_window_s=29.0, max_gap_s=2.0)
    assert all(w.duration_s <= 29.0 for w in windows)
    assert windows[0].pieces == (SpeechRegion(0.0, 29.0),)
    assert windows[-1].end_s == 49.0
    assert sum(w.duration_s for w in windows) == pytest.approx(49.0 - sum(1.0 for _ in range(len(windows) - 1)))


def test_long_silence_is_bridged() -> None:
    """A 20 s silence between two regions is cut to a 0.6 s bridge inside one window."""
    (window,) = plan_windows([SpeechRegion(0, 2), SpeechRegion(22, 23)], max_gap_s=2.0, bridge_s=0.6)
    assert window.pieces == (SpeechRegion(0, 2.3), SpeechRegion(21.7, 23))
    assert window.duration_s == pytest.approx(3.6)


def test_window_limit_counts_bridges_not_silence() -> None:
    """Speech far apart still shares a window when the joined audio fits."""
    regions = [SpeechRegion(i * 60.0, i * 60.0 + 5.0) for i in range(5)]
    windows = plan_windows(regions, max_window_s=29.0)
    assert [len(w.pieces) for w in windows] == [5]


def test_time_map_places_words_in_their_piece() -> None:
    """Window times map back to source times; a span over a join goes to the piece it overlaps most."""
    window = Window((SpeechRegion(10.0, 12.0), SpeechRegion(30.0, 31.0)))
    assert window.to_source(0.5, 1.0) == pytest.approx((10.5, 11.0))
    assert window.to_source(2.2, 2.8) == pytest.approx((30.2, 30.8))
    assert window.to_source(1.9, 2.6) == pytest.approx((30.0, 30.6))  # mostly in the second piece
    assert window.to_source(1.6, 2.1) == pytest.approx((11.6, 12.0))  # mostly in the first piece, clamped


def test_no_regions_no_windows() -> None:
    """Nothing in, nothing out."""
    assert plan_windows([]) == []


def test_silero_finds_speech_and_not_silence(vad: SileroVad, data: Path) -> None:
    """Real speech yields regions covering it; digital silence yields none."""
    samples = media.decode(data / "jfk_public_domain" / "jfk.flac")
    regions = vad.regions(samples)
    assert regions and regions[0].start_s < 1.0 and regions[-1].end_s > 9.5
    assert vad.regions(np.zeros(16000 * 5, dtype=np.float32)) == []
