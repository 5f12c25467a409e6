"""Live voice translation: speech delay, synthesis speed and what speaking costs the captions.

Streams a recording at real time to an in-process server (tiny.en by default) three times
in one run: captions only (the baseline), with ``speak`` on as the server runs it (speech in
a helper process stopped while captions decode), and with ``speak`` on a low-priority
thread of the server instead (``speech_helper=False``); prints the caption latency of each
(final-word latency p50/p95 and the ratio to the baseline), the delay from the end of each
source sentence to the start of its spoken translation (p50/p95, first and last third), the
skipped sentences, and the synthesis real-time factor of the voice used (its clips
synthesized again in a helper, timed, alone). Last, what any second job costs a
decode on this machine: the median decode time of an 8 s window with a busy loop at the
lowest CPU priority in another process, over the same decode alone. On a machine whose
cores share execution units, caches or clock (virtual CPUs, hyperthreads) that ratio is well
above 1, and it is the least speaking can cost the captions there, however low its priority.

    uv run python benchmarks/live_dub.py [--model tiny.en] [--to es] [--seconds 87]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from voicestream import media
from voicestream.asr import AsrEngine
from voicestream.client import stream_samples
from voicestream.live.state import STREAM_DECODE
from voicestream.live.vad_stream import SileroFrameModel
from voicestream.registry import create_asr_engine, create_synthesizers
from voicestream.server.listener import HttpServer
from voicestream.server.websocket import ServerConfig, VoicestreamServer
from voicestream.tts.cast import catalog
from voicestream.tts.remote import remote_synthesizers

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def final_latency(events: list[dict[str, Any]]) -> list[float]:
    return [e["recv_s"] - w["end"] for e in events if e["type"] == "final" for w in e["words"]]


def decode_times(engine: AsrEngine, window: np.ndarray, runs: int = 15) -> float:
    """Median seconds to decode ``window`` (16 kHz float32 ``(n,)``) the way a stream does."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        engine.transcribe(window, 0.0, STREAM_DECODE)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def second_job_cost(engine: AsrEngine, window: np.ndarray) -> float:
    """Decode time with a nice-19 busy loop in another process over the decode alone."""
    decode_times(engine, window, 3)
    alone = decode_times(engine, window)
    busy = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        loaded = decode_times(engine, window)
    finally:
        busy.kill()
        busy.wait()
    return loaded / ((alone + decode_times(engine, window)) / 2)


class TimedEngine:
    """The real engine, timing each decode (s) the server asks of it."""

    def __init__(self, engine: AsrEngine) -> None:
        self._engine = engine
        self.name, self.multilingual, self.speculative = engine.name, engine.multilingual, engine.speculative
        self.times: list[float] = []

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        return self._engine.detect_language(samples)

    def transcribe(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._engine.transcribe(*args, **kwargs)
        finally:
            self.times.append(time.perf_counter() - start)


@dataclass(frozen=True)
class Run:
    """One stream's events (as the client saw them) and the server's decode times (s)."""

    events: list[dict[str, Any]]
    decodes: list[float]
    paused_s: float
    """Seconds the speech helper was stopped for caption work."""

    def decode_summary(self) -> str:
        t = self.decodes
        paused = f"; speech helper stopped {self.paused_s:.1f} s" if self.paused_s else ""
        return f"{len(t)} decodes: p50 {pct(t, 50):.3f} s, p95 {pct(t, 95):.3f} s, {sum(t):.1f} s in all{paused}"


def run(asr: TimedEngine, audio: np.ndarray, config: ServerConfig, **options: Any) -> Run:
    """Stream ``audio`` at real time to a fresh in-process server."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    server = VoicestreamServer(asr, SileroFrameModel(), config)
    http = HttpServer(server)
    asr.times.clear()
    port = asyncio.run_coroutine_threadsafe(http.start(), loop).result()
    try:
        events = asyncio.run(stream_samples(f"ws://127.0.0.1:{port}", audio, speed=1.0, **options))
    finally:
        asyncio.run_coroutine_threadsafe(http.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
    return Run(events, list(asr.times), server.live.pause.stopped_total_s)


def report(name: str, base: list[float], result: Run) -> None:
    """Print caption latency against ``base`` and the speech delay of one run with speech."""
    spoken = result.events
    with_speech = final_latency(spoken)
    speech = [e for e in spoken if e["type"] == "speech"]
    skipped = [e for e in spoken if e["type"] == "speech_skipped"]
    firsts = [e for e in speech if e["part"] == 0]  # a sentence's speech starts with its first part
    delays = [e["start"] - e["source_end"] for e in firsts]
    third = max(1, len(delays) // 3)
    print(f"{name}:")
    print(f"  {result.decode_summary()}")
    print(f"  caption latency with speak: p50 {pct(with_speech, 50):.2f} s p95 {pct(with_speech, 95):.2f} s "
          f"({pct(with_speech, 50) / pct(base, 50):.2f}x / {pct(with_speech, 95) / pct(base, 95):.2f}x)")  # fmt: skip
    print(f"  speech delay (source sentence end -> its speech starts): p50 {pct(delays, 50):.2f} s "
          f"p95 {pct(delays, 95):.2f} s; first third max {max(delays[:third]):.2f} s, "
          f"last third max {max(delays[-third:]):.2f} s; {len(firsts)} spoken in {len(speech)} parts, "
          f"{len(skipped)} skipped")  # fmt: skip
    faster = [e["speed"] for e in firsts if e["speed"] > 1.0]
    stretched = [e["tempo"] for e in speech if e["tempo"] > 1.0]
    print(f"  voice asked to speak faster for {len(faster)} of {len(firsts)} sentences (up to "
          f"{max(faster, default=1.0):.2f}x); {len(stretched)} parts stretched "
          f"(up to {max(stretched, default=1.0):.2f}x)")  # fmt: skip
    gaps = [b["start"] - a["start"] - a["duration"] for a, b in itertools.pairwise(speech) if b["part"]]
    print(f"  inside sentences ({len(gaps)} joins of parts): silence p50 {pct(gaps, 50):.2f} s "
          f"p95 {pct(gaps, 95):.2f} s max {max(gaps, default=float('nan')):.2f} s "
          "(a part still being synthesized when the one before it ends makes a pause)")  # fmt: skip
    arrived = {e["segment"]: e["recv_s"] - e["end"] for e in spoken if e["type"] == "translation" and e.get("text")}
    ready = [e["recv_s"] - e["source_end"] for e in firsts]
    print(f"  of which: translation arrives p50 {pct(list(arrived.values()), 50):.2f} s after the sentence ends; "
          f"speech ready (received) p50 {pct(ready, 50):.2f} s; waiting behind the previous clip p50 "
          f"{pct([d - r for d, r in zip(delays, ready, strict=True)], 50):.2f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--to", default="es")
    parser.add_argument("--seconds", type=float, default=87.0)
    parser.add_argument("--file", type=Path, default=DATA / "long_form" / "librispeech_concat_4spk.wav")
    parser.add_argument("--helper-only", action="store_true", help="skip the run with speech in the server's process")
    args = parser.parse_args()
    audio = media.decode(args.file)[: round(args.seconds * 16000)]
    whisper = create_asr_engine(args.model, workers=2)
    asr = TimedEngine(whisper)
    config = ServerConfig(port=0, workers=2, max_rate=0, warm_speech=True)  # as serve
    plain = run(asr, audio, config, translate_to=args.to)
    spoken = run(asr, audio, config, speak=args.to)
    beside = None
    if not args.helper_only:
        beside = run(asr, audio, replace(config, speech_helper=False), speak=args.to)
    base = final_latency(plain.events)
    print(f"{args.file.name}, {args.seconds:g} s at real time, model {args.model}, speech in {args.to}")
    print(f"caption latency without speak: p50 {pct(base, 50):.2f} s p95 {pct(base, 95):.2f} s")
    print(f"  {plain.decode_summary()}")
    report("speech helper, paused while captions decode", base, spoken)
    if beside is not None:
        report("speech on a nice-10 thread of the server", base, beside)
    speech = [e for e in spoken.events if e["type"] == "speech"]
    local = create_synthesizers()
    synths, helper = remote_synthesizers(local, threads=None)
    voice = next(v for v in catalog(args.to, local) if v.id == speech[0]["voice"])
    engine = next(s for s in synths if s.name == voice.engine)
    engine.synthesize("ok", voice)
    spent, made = 0.0, 0.0
    for e in speech:
        t = time.perf_counter()
        made += engine.synthesize(e["text"], voice).duration_s
        spent += time.perf_counter() - t
    helper.close()
    print(f"synthesis with {voice.id} in the helper, alone: {spent:.1f} s for {made:.1f} s of speech, "
          f"RTF {spent / made:.2f} (all cores)")  # fmt: skip
    cost = second_job_cost(whisper, audio[16000 * 16 : 16000 * 24])
    print(f"a second job's cost on this machine: an 8 s decode takes {cost:.2f}x as long next to a busy loop "
          "at nice 19 in another process (the floor of what speaking costs the captions here)")  # fmt: skip


if __name__ == "__main__":
    main()
