"""Soak: sessions streaming real speech at real time and reconnecting every 60 s show no RSS
growth trend after warm-up. CI runs 3 minutes; ``VOICESTREAM_SOAK_S=1800`` runs 30."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from tests.servers import RunningServer
from voicestream import media
from voicestream.asr import FasterWhisperEngine
from voicestream.client import stream_samples

SOAK_S = float(os.environ.get("VOICESTREAM_SOAK_S", "180"))
SESSION_S = 60.0
WARMUP_S = 60.0 if SOAK_S < 600 else SOAK_S / 3
"""Warm-up left out of the check: the first minute in CI's short run; the first third in a long
one (the 30-minute run here still rose 808 -> 849 MB over minutes 1-5 as pools and allocator
arenas filled, then 849 -> 862 MB over the next 25: a 60 s warm-up read that as +0.99 MB/min)."""
MAX_SLOPE_MB_PER_MIN = 1.0
"""Largest RSS trend after warm-up in a long run (>= 10 min); a leak of each session's audio
(60 s x 16 kHz float32 = 3.8 MB per reconnect, two clients) would be ~7.7 MB/min."""
MAX_LATE_GROWTH_MB = 40.0
"""Short runs (CI's 3 min) cannot resolve a trend against allocator noise (+12 and -4 MB/min
measured in two runs): they check that the last third's peak stays within this of the
peak before it, which catches gross leaks only."""


def test_reconnecting_sessions_do_not_grow_memory(tiny_engine: FasterWhisperEngine, data: Path) -> None:
    speech = media.decode(data / "long_form" / "librispeech_concat_4spk.wav")
    clip = np.tile(speech, 2)[: round(SESSION_S * 16000)]
    server = RunningServer(tiny_engine, max_sessions=4, workers=2)
    deadline = time.monotonic() + SOAK_S
    finished: list[int] = []
    failures: list[BaseException] = []

    def client(offset: int) -> None:
        while time.monotonic() + SESSION_S <= deadline + 5:
            try:
                events = asyncio.run(stream_samples(server.url, np.roll(clip, offset * 16000 * 17), speed=1.0))
                assert events[-1]["type"] == "done"
                finished.append(offset)
            except BaseException as e:
                failures.append(e)
                return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    started = time.monotonic()
    for t in threads:
        t.start()
    samples: list[tuple[float, float]] = []
    proc = psutil.Process()
    try:
        while any(t.is_alive() for t in threads):
            samples.append((time.monotonic() - started, proc.memory_info().rss / 2**20))
            time.sleep(5.0)
        for t in threads:
            t.join()
    finally:
        server.close()
    assert not failures, failures
    assert len(finished) >= 2 * int(SOAK_S // SESSION_S) - 1
    late = [(t, rss) for t, rss in samples if t >= WARMUP_S]
    assert len(late) >= 6
    times, rss = np.array(late).T
    slope = float(np.polyfit(times / 60.0, rss, 1)[0])
    print(f"RSS after warm-up: {rss.min():.0f}-{rss.max():.0f} MB, trend {slope:+.2f} MB/min over {len(late)} samples")
    print("RSS samples (s, MB):", [(round(t), round(r)) for t, r in samples])
    if SOAK_S >= 600:
        assert slope <= MAX_SLOPE_MB_PER_MIN, (slope, late)
    else:
        cut = times.min() + (times.max() - times.min()) * 2 / 3
        assert rss[times >= cut].max() <= rss[times < cut].max() + MAX_LATE_GROWTH_MB, late
