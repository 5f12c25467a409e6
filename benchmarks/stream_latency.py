"""Live-caption latency and cost: N sessions streaming real speech at real time.

Starts ``voicestream serve`` in-process on loopback, streams the same recording from N
clients paced at real time (each client starts at a different offset of the file so
they do not speak in unison), and prints per session count:

- final latency: event arrival minus the end of each confirmed word (p50/p95/max),
- partial latency: event arrival minus the end of the newest word in each partial,
- how latency develops: p95 final latency in the first and the last third of the run,
- server CPU seconds per audio second (real-time factor) and RSS growth per session,

and, as the baseline measured in the same run, the CPU cost of transcribing the same
audio as a file (``voicestream transcribe``), with the ratio.

    uv run python benchmarks/stream_latency.py [--model base] [--sessions 1,4] [--seconds 60] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from voicestream import media
from voicestream.asr import default_cpu_threads
from voicestream.client import stream_samples
from voicestream.live.vad_stream import SileroFrameModel
from voicestream.pipeline import transcribe_samples
from voicestream.registry import create_asr_engine, create_vad
from voicestream.server.listener import HttpServer
from voicestream.server.websocket import ServerConfig, VoicestreamServer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def latencies(events: list[dict[str, Any]]) -> tuple[list[tuple[float, float]], list[float]]:
    """(word end, final latency) pairs and partial latencies of one session."""
    finals = [(w["end"], e["recv_s"] - w["end"]) for e in events if e["type"] == "final" for w in e["words"]]
    partials = [e["recv_s"] - e["words"][-1]["end"] for e in events if e["type"] == "partial" and e["words"]]
    return finals, partials


def run_sessions(url: str, clips: list[np.ndarray], revise: bool = True) -> list[list[dict[str, Any]]]:
    async def all_sessions() -> list[list[dict[str, Any]]]:
        return list(await asyncio.gather(*(stream_samples(url, c, speed=1.0, revise=revise) for c in clips)))

    return asyncio.run(all_sessions())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="base")
    parser.add_argument("--sessions", default="1,4")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--workers", type=int, default=default_cpu_threads(), help="inference threads (default: one per core, as serve)"
    )
    parser.add_argument(
        "--revise", default="on,off", help="revisions on, off or both (off: the baseline without them, same run)"
    )
    parser.add_argument("--file", type=Path, default=DATA / "long_form" / "librispeech_concat_4spk.wav")
    args = parser.parse_args()

    audio = media.decode(args.file)
    engine = create_asr_engine(args.model, workers=args.workers)
    n = round(args.seconds * 16000)

    def clip(offset_s: float) -> np.ndarray:
        start = round(offset_s * 16000) % audio.size
        looped = np.tile(audio, (start + n) // audio.size + 1)  # the recording repeated as needed
        return looped[start : start + n]

    cpu0 = time.process_time()
    transcribe_samples(clip(0.0), engine, create_vad())
    file_cpu = time.process_time() - cpu0
    print(
        f"model {args.model}, {args.seconds:g} s of {args.file.name} per session, paced at real time, "
        f"{args.workers} inference worker(s)"
    )
    print(f"baseline: file transcription of the same audio costs {file_cpu / args.seconds:.3f} CPU s per audio s")

    runs = [(int(c), r == "on") for c in args.sessions.split(",") for r in args.revise.split(",")]
    for count, revise in runs:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        config = ServerConfig(port=0, max_sessions=count, workers=args.workers)
        server = VoicestreamServer(engine, SileroFrameModel(), config)
        http = HttpServer(server)
        port = asyncio.run_coroutine_threadsafe(http.start(), loop).result()
        rss0, cpu0, wall0 = rss_mb(), time.process_time(), time.monotonic()
        results = run_sessions(f"ws://127.0.0.1:{port}", [clip(i * 17.0) for i in range(count)], revise)
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        rss = rss_mb() - rss0
        asyncio.run_coroutine_threadsafe(http.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        finals: list[tuple[float, float]] = []
        partials: list[float] = []
        for events in results:
            f, p = latencies(events)
            finals += f
            partials += p
        lat = [x for _, x in finals]
        third = args.seconds / 3
        early = [x for t, x in finals if t < third]
        late = [x for t, x in finals if t >= 2 * third]
        rtf = cpu / (args.seconds * count)
        print(
            f"{count} session(s), revisions {'on' if revise else 'off'}: "
            f"final p50 {pct(lat, 50):.2f} s p95 {pct(lat, 95):.2f} s max {max(lat):.2f} s | "
            f"partial p50 {pct(partials, 50):.2f} s p95 {pct(partials, 95):.2f} s | "
            f"final p95 first third {pct(early, 95):.2f} s, last third {pct(late, 95):.2f} s | "
            f"CPU {rtf:.3f} s per audio s ({rtf / (file_cpu / args.seconds):.1f}x the file job) | "
            f"wall {wall:.0f} s | RSS +{rss / count:.0f} MB per session"
        )


if __name__ == "__main__":
    main()
