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
WARMUP_S = 60.0
MAX_SLOPE_MB_PER_MIN = 3.0
"""Largest RSS trend allowed after warm-up (a leak of one 16 kHz session's audio per
reconnect would be ~4 MB/min with two clients)."""


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
    assert slope <= MAX_SLOPE_MB_PER_MIN, (slope, late)
