"""Soak: sessions streaming real speech at real time and reconnecting every 60 s show no RSS
growth trend after warm-up in a ``voicestream serve`` process. Behind a flag, as load runs
are: ``VOICESTREAM_SOAK_S=180`` runs 3 minutes (the short check), ``VOICESTREAM_SOAK_S=1800``
runs 30; without it the test is skipped and says how to run it.

The server runs in a process of its own, as users run it: measured inside pytest's process
(about 2.9 GB after the other tests' models), one CI run read a +57 MB step there 160 s in
that nothing in the server explains, and failed."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from tests.servers import RunningServer, open_ws, send, serve_process, start_msg
from voicestream import media
from voicestream.asr import FasterWhisperEngine
from voicestream.client import stream_samples
from voicestream.live.state import SessionState

SOAK_S = float(os.environ.get("VOICESTREAM_SOAK_S", "0"))
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


@pytest.mark.slow
@pytest.mark.skipif(SOAK_S <= 0, reason="soak run: set VOICESTREAM_SOAK_S=180 (3 min) or 1800 (30 min)")
def test_reconnecting_sessions_do_not_grow_memory(data: Path) -> None:
    speech = media.decode(data / "long_form" / "librispeech_concat_4spk.wav")
    clip = np.tile(speech, 2)[: round(SESSION_S * 16000)]
    finished: list[int] = []
    failures: list[BaseException] = []
    samples: list[tuple[float, float]] = []
    with serve_process("--max-sessions", "4", "--workers", "2") as (proc, url):
        deadline = time.monotonic() + SOAK_S

        def client(offset: int) -> None:
            while time.monotonic() + SESSION_S <= deadline + 5:
                try:
                    events = asyncio.run(stream_samples(url, np.roll(clip, offset * 16000 * 17), speed=1.0))
                    assert events[-1]["type"] == "done"
                    finished.append(offset)
                except BaseException as e:
                    failures.append(e)
                    return

        threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
        started = time.monotonic()
        for t in threads:
            t.start()
        server = psutil.Process(proc.pid)
        while any(t.is_alive() for t in threads):
            samples.append((time.monotonic() - started, server.memory_info().rss / 2**20))
            time.sleep(5.0)
        for t in threads:
            t.join()
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


def test_finished_sessions_leave_no_state_behind(tiny_engine: FasterWhisperEngine, data: Path) -> None:
    """Every session's state lives in one :class:`SessionState` object; none outlives its
    connection, whether it ended with ``stop`` or by the client going away. This catches the
    per-session leaks that CI's 3-minute RSS check above is too short to resolve."""
    speech = media.decode(data / "jfk_public_domain" / "jfk.flac")
    server = RunningServer(tiny_engine, max_sessions=4, workers=2, max_rate=0)
    try:
        for _ in range(3):
            events = asyncio.run(stream_samples(server.url, speech, speed=8.0))
            assert events[-1]["type"] == "done"
        with open_ws(server, token=None) as ws:  # a client that leaves mid-stream
            send(ws, start_msg())
            send(ws, speech[:48000].tobytes())
        deadline = time.monotonic() + 30
        while _live_sessions() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _live_sessions() == 0
    finally:
        server.close()


def _live_sessions() -> int:
    gc.collect()
    return sum(type(o) is SessionState for o in gc.get_objects())
