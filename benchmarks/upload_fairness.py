"""An HTTP API upload while live sessions stream: what the file job costs the live captions.

Starts a real ``voicestream serve`` (its own process), then in one run:
  1. the upload alone: ``/v1/audio/transcriptions`` of ``--upload-seconds`` of speech
     through the official ``openai`` client (the file job's own time);
  2. ``--sessions`` live sessions at real time for ``--seconds``, nothing else (the baseline);
  3. the same live sessions with the same upload sent ``--delay`` seconds in.
and prints, for 2 and 3, final latency p50/p95/max of the live sessions, their longest wait
between two finals while the upload ran, and the upload's wall time and WER drift.

    uv run python benchmarks/upload_fairness.py --model tiny.en --sessions 2 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import openai
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import DATA, pct, start_server

from voicestream import media
from voicestream.client import stream_samples


def upload(port: int, audio: bytes) -> tuple[float, float, str]:
    """(start, end) monotonic seconds of one transcription request and its text."""
    api = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=600)
    started = time.monotonic()
    text = api.audio.transcriptions.create(model="whisper-1", file=("talk.flac", audio)).text
    return started, time.monotonic(), text


def live(port: int, samples: list[np.ndarray]) -> tuple[float, list[list[dict[str, Any]]]]:
    """Stream every clip of ``samples`` at real time at once; (start, events per session)."""

    async def run() -> list[list[dict[str, Any]]]:
        return list(await asyncio.gather(*(stream_samples(f"ws://127.0.0.1:{port}", s, speed=1.0) for s in samples)))

    started = time.monotonic()
    return started, asyncio.run(run())


def report(name: str, started: float, sessions: list[list[dict[str, Any]]], window: tuple[float, float] | None) -> None:
    finals = [(e["recv_s"], e) for events in sessions for e in events if e["type"] == "final"]
    latency = [recv - w["end"] for recv, e in finals for w in e["words"]]
    done = sum(1 for events in sessions if events and events[-1]["type"] == "done")
    line = (f"{name}: {done}/{len(sessions)} done, {len(finals)} finals | final latency p50 {pct(latency, 50):.2f} "
            f"p95 {pct(latency, 95):.2f} max {max(latency, default=float('nan')):.2f} s")  # fmt: skip
    if window is not None:
        a, b = window[0] - started, window[1] - started
        gaps = []
        for events in sessions:
            times = [a] + [e["recv_s"] for e in events if e["type"] == "final" and a <= e["recv_s"] <= b] + [b]
            gaps.append(max(np.diff(times)))
        line += f" | during the upload ({a:.1f}-{b:.1f} s): longest wait for a final {max(gaps):.2f} s"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0, help="live audio per session (s)")
    parser.add_argument("--upload-seconds", type=float, default=60.0)
    parser.add_argument("--delay", type=float, default=5.0, help="seconds into the live sessions the upload starts")
    parser.add_argument("--file", type=Path, default=DATA / "long_form" / "librispeech_concat_4spk.wav")
    args = parser.parse_args()

    audio = media.decode(args.file)
    n = round(args.seconds * 16000)
    clips = [np.tile(audio, 3)[(i * 23 * 16000) % audio.size :][:n] for i in range(args.sessions)]
    flac = io.BytesIO()
    soundfile.write(flac, np.tile(audio, 3)[11 * 16000 :][: round(args.upload_seconds * 16000)], 16000, format="FLAC")
    body = flac.getvalue()
    print(f"model {args.model}, {args.sessions} live sessions of {args.seconds:g} s at real time, an upload of "
          f"{args.upload_seconds:g} s ({len(body) / 1e6:.1f} MB FLAC), 2 cores", flush=True)  # fmt: skip

    proc, port = start_server(args.model, args.sessions + 1, None)
    try:
        a, b, alone_text = upload(port, body)
        print(f"upload alone: {b - a:.2f} s for {args.upload_seconds:g} s of audio", flush=True)
        started, sessions = live(port, clips)
        report("live alone", started, sessions, None)

        result: list[tuple[float, float, str]] = []

        def later() -> None:
            time.sleep(args.delay)
            result.append(upload(port, body))

        thread = threading.Thread(target=later)
        thread.start()
        started, sessions = live(port, clips)
        thread.join()
        a, b, text = result[0]
        report("live + upload", started, sessions, (a, b))
        differ = jiwer.wer(alone_text, text) if alone_text else float("nan")
        print(f"upload beside {args.sessions} live sessions: {b - a:.2f} s (its text differs from the upload "
              f"alone's by {100 * differ:.1f}% WER)", flush=True)  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
