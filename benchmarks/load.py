"""Load: N live sessions paced at real time against a real ``voicestream serve`` on loopback.

Starts the server as its own process (so its CPU and memory are its own), streams real speech
from the shared data (looped, each client at a different offset) from N clients at real time
for a set duration, polls ``GET /metrics`` every second, and reports per N: sessions held,
refusals, final and partial latency p50/p95/p99, event-loop lag p99, the server's real-time
factor (CPU seconds per audio second) and RSS per session. A load is *held* when every session
ran to ``done`` unrefused, the final latency p95 stayed under ``--max-p95`` (3 s) and the
last third's p95 grew at most 0.5 s over the first third's (no backlog building up).

``--find`` raises N (1, 2, 3, ...) until a load is not held and reports the largest held.
The baseline, measured in the same run, is one session (N = 1). One run's final p95 moves by
about a second near the machine's capacity (base, N = 8, four runs in one hour: 3.25-4.28 s),
so ``--repeat K`` runs each N K times and holds it when most of its runs hold.

    uv run python benchmarks/load.py --model tiny.en --find --seconds 60
    uv run python benchmarks/load.py --model base --sessions 1,2,3 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voicestream import media
from voicestream.client import stream_samples
from voicestream.errors import VoicestreamError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass
class Result:
    sessions: int
    held: int
    refused: int
    final: list[float]
    partial: list[float]
    lag_p99_ms: float
    rtf: float
    rss_per_session_mb: float
    asr: dict[str, Any] | None = None  # /metrics' "asr" at the end (serve --ray: the replicas' figures)
    first_third: list[float] | None = None  # final latency of words spoken in the first third of the run
    last_third: list[float] | None = None  # ... in the last third (the finals after stop included)
    segment_ends: list[float] | None = None  # final latency of the words of each segment's last final
    revision_lag: list[float] | None = None  # from the end of a revision's last word to its event (s)
    done_after: list[float] | None = None  # from each session's last audio to its ``done`` (s)

    @property
    def growth_s(self) -> float:
        """Final latency p95 of the last third of the run minus that of the first third (s)."""
        return pct(self.last_third or [], 95) - pct(self.first_third or [], 95)

    def ok(self, max_p95: float) -> bool:
        """Every session to ``done``, final p95 at most ``max_p95`` and no backlog building up
        (the last third's p95 within :data:`MAX_GROWTH_S` of the first third's)."""
        return (
            self.held == self.sessions
            and bool(self.final)
            and float(np.percentile(self.final, 95)) <= max_p95
            and not self.growth_s > MAX_GROWTH_S
        )


MAX_GROWTH_S = 0.5
"""A held load's final latency p95 may grow this much (s) from the first to the last third."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metrics(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        doc: dict[str, Any] = json.loads(r.read())
    return doc


def start_server(
    model: str, sessions: int, workers: int | None, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], int]:
    """``voicestream serve`` (with ``extra`` options, e.g. ``--ray``) on a free port, once it answers."""
    port = free_port()
    argv = [sys.executable, "-m", "voicestream", "serve", "--model", model, "--port", str(port),
            "--max-sessions", str(sessions), "--no-web", *extra]  # fmt: skip
    if workers:
        argv += ["--workers", str(workers)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300  # a --ray server starts a cluster and loads its replicas first
    while time.monotonic() < deadline:
        try:
            metrics(port)
            return proc, port
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not start")


def run_load(
    model: str, count: int, seconds: float, audio: np.ndarray, workers: int | None, extra: tuple[str, ...] = ()
) -> Result:
    """``count`` sessions of ``seconds`` each at real time against a new server."""
    proc, port = start_server(model, count, workers, extra)
    try:
        n = round(seconds * 16000)

        def clip(i: int) -> np.ndarray:
            start = (i * 17 * 16000) % audio.size
            return np.tile(audio, (start + n) // audio.size + 2)[start : start + n]

        before = metrics(port)
        lags: list[float] = []
        rss: list[float] = []
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                m = metrics(port)
                lags.append(m["loop_lag_ms"]["p99"])
                rss.append(m["rss_mb"])
                time.sleep(1.0)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()

        async def one(i: int) -> list[dict[str, Any]] | None:
            try:
                return await stream_samples(f"ws://127.0.0.1:{port}", clip(i), speed=1.0)
            except VoicestreamError:
                return None

        async def all_sessions() -> list[list[dict[str, Any]] | None]:
            return list(await asyncio.gather(*(one(i) for i in range(count))))

        results = asyncio.run(all_sessions())
        done.set()
        poller.join()
        after = metrics(port)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            print(f"  N={count}: the server took over 30 s to stop after SIGTERM; killed", flush=True)
            proc.kill()
            proc.wait()
    timed = [(w["end"], e["recv_s"] - w["end"]) for r in results if r for e in r if e["type"] == "final"
             for w in e["words"]]  # fmt: skip
    finals = [lat for _, lat in timed]
    segment_ends = [e["recv_s"] - w["end"] for r in results if r for e in _closing_finals(r) for w in e["words"]]
    partials = [e["recv_s"] - e["words"][-1]["end"] for r in results if r for e in r
                if e["type"] == "partial" and e["words"]]  # fmt: skip
    revision_lag = [e["recv_s"] - max(w["end"] for f in e["finals"] for w in f["words"]) for r in results if r
                    for e in r if e["type"] == "revision" and any(f["words"] for f in e["finals"])]  # fmt: skip
    held = sum(1 for r in results if r and r[-1]["type"] == "done")
    ends = [r[-1] for r in results if r and r[-1]["type"] == "done"]
    print(f"  N={count}: {sum(e.get('revisions', 0) for e in ends)} revision decodes of "
          f"{sum(e.get('decodes', 0) for e in ends)} in all, "
          f"{sum(e.get('revisions_skipped', 0) for e in ends)} revisions skipped (late)", flush=True)  # fmt: skip
    return Result(
        sessions=count, held=held, refused=int(after["closed"].get("1013", 0)), final=finals, partial=partials,
        lag_p99_ms=max(lags) if lags else 0.0, rtf=(after["cpu_s"] - before["cpu_s"]) / (seconds * count),
        rss_per_session_mb=(max(rss, default=before["rss_mb"]) - before["rss_mb"]) / count, asr=after.get("asr"),
        first_third=[lat for end, lat in timed if end < seconds / 3],
        last_third=[lat for end, lat in timed if end >= 2 * seconds / 3], segment_ends=segment_ends,
        revision_lag=revision_lag, done_after=[e["recv_s"] - seconds for e in ends],
    )  # fmt: skip


def _closing_finals(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each segment's last final. A segment ends at a pause (its last words confirmed by the
    final decode), at a confirmed sentence end (held for ``mark_settle_s``) or where a
    revision lands; the other finals are confirmed as the speech goes on."""
    finals = [e for e in events if e["type"] == "final"]
    return [e for e, after in zip(finals, [*finals[1:], None], strict=True)
            if after is None or after["segment"] != e["segment"]]  # fmt: skip


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def show(r: Result, base: Result | None) -> None:
    ratio = f", RTF {r.rtf / base.rtf:.1f}x the 1-session baseline" if base and base.rtf else ""
    print(
        f"N={r.sessions}: held {r.held}/{r.sessions}, refused {r.refused} | final p50 {pct(r.final, 50):.2f} "
        f"p95 {pct(r.final, 95):.2f} p99 {pct(r.final, 99):.2f} s (p95 first/last third "
        f"{pct(r.first_third or [], 95):.2f}/{pct(r.last_third or [], 95):.2f}, at segment ends "
        f"{pct(r.segment_ends or [], 95):.2f}) | partial p50 {pct(r.partial, 50):.2f} "
        f"p95 {pct(r.partial, 95):.2f} p99 {pct(r.partial, 99):.2f} s | revisions p50 "
        f"{pct(r.revision_lag or [], 50):.2f} p95 {pct(r.revision_lag or [], 95):.2f} s after their words, done "
        f"{max(r.done_after or [math.nan]):.2f} s after the audio at most | loop lag p99 {r.lag_p99_ms:.1f} ms | "
        f"server RTF {r.rtf:.3f} CPU s per audio s per session{ratio} | RSS +{r.rss_per_session_mb:.0f} MB/session",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--sessions", default="1,2,4")
    parser.add_argument("--find", action="store_true", help="raise N until a load is not held")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-p95", type=float, default=3.0, help="final latency p95 (s) a held load stays under")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=1, help="runs per N (held when most runs hold)")
    parser.add_argument("--file", type=Path, default=DATA / "long_form" / "librispeech_concat_4spk.wav")
    parser.add_argument("--serve-option", action="append", default=[], metavar="OPTION",
                        help="passed to voicestream serve (repeatable): --serve-option=--shared-revisions")  # fmt: skip
    args = parser.parse_args()
    extra = tuple(args.serve_option)
    audio = media.decode(args.file)
    print(f"model {args.model}, {args.seconds:g} s per session of {args.file.name}, paced at real time, "
          f"{os.cpu_count()} cores")  # fmt: skip
    base = run_load(args.model, 1, args.seconds, audio, args.workers, extra)
    show(base, None)
    largest = 1 if base.ok(args.max_p95) else 0
    counts = range(2, 65) if args.find else [int(c) for c in args.sessions.split(",") if int(c) > 1]
    for count in counts:
        runs = [
            run_load(args.model, count, args.seconds, audio, args.workers, extra) for _ in range(max(1, args.repeat))
        ]
        for result in runs:
            show(result, base)
        held = sum(r.ok(args.max_p95) for r in runs)
        if len(runs) > 1:
            p95s = sorted(pct(r.final, 95) for r in runs)
            print(f"N={count} over {len(runs)} runs: final p95 median {float(np.median(p95s)):.2f} s "
                  f"(runs {', '.join(f'{p:.2f}' for p in p95s)}), held in {held}")  # fmt: skip
        if 2 * held > len(runs):
            largest = max(largest, count)
        elif args.find:
            break
    print(f"largest N held at real time (final p95 <= {args.max_p95:g} s, growth <= {MAX_GROWTH_S:g} s): {largest}")


if __name__ == "__main__":
    main()
