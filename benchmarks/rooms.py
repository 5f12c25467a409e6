"""Caption rooms: how many viewers one room holds on this machine, and what they cost the publisher.

Starts a real ``voicestream serve`` (its own process), then for each N of ``--viewers``: N
viewer websockets join room ``bench`` (``--spanish`` of them ask for Spanish), one publisher
streams ``--seconds`` of real speech at real time, and every client notes when each final
arrives. Prints per N: the publisher's final latency p50/p95 (against N = 0, measured in the
same run), how late viewers got each final after the publisher (p50/p95/max), and whether
the load was *held*: every viewer got every final and the p95 delay stayed within
``--max-delay`` (0.5 s). Viewers run in this process, on the same two cores as the server.

    uv run python benchmarks/rooms.py --model tiny.en --viewers 0,50,100,200 --seconds 45
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import DATA, pct, start_server

from voicestream import media
from voicestream.client import stream_samples


async def viewer(url: str, language: str | None, seen: dict[int, float]) -> bool:
    """Watch room ``bench``, noting when each final id arrives; ``True`` when it ended with ``done``."""
    query = "room=bench" + (f"&translate_to={language}" if language else "")
    async with connect(f"{url}/watch?{query}", max_size=2**22) as ws:

        async def keepalive() -> None:  # the server's idle timeout applies to viewers too
            while True:
                await asyncio.sleep(10.0)
                await ws.send(json.dumps({"type": "keepalive"}))

        beat = asyncio.create_task(keepalive())
        async for raw in ws:
            event = json.loads(raw)
            if event["type"] == "final":
                seen[event["id"]] = time.monotonic()
            elif event["type"] == "done":
                beat.cancel()
                return True
        beat.cancel()
    return False


async def one_run(url: str, samples: np.ndarray, viewers: int, spanish: int) -> dict[str, Any]:
    seen: list[dict[int, float]] = [{} for _ in range(viewers)]
    watching = [asyncio.create_task(viewer(url, "es" if k < spanish else None, seen[k])) for k in range(viewers)]
    await asyncio.sleep(1.0 + viewers / 100)  # all joined
    published: dict[int, float] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "final":
            published[event["id"]] = time.monotonic()

    events = await stream_samples(url, samples, speed=1.0, room="bench", on_event=on_event)
    done = await asyncio.gather(*watching, return_exceptions=True)
    latency = [e["recv_s"] - w["end"] for e in events if e["type"] == "final" for w in e["words"]]
    delays = [s[i] - t for s in seen for i, t in published.items() if i in s]
    complete = sum(1 for s, d in zip(seen, done, strict=True) if d is True and set(published) <= set(s))
    failed = [d for d in done if d is not True]
    if failed:
        print(f"  {len(failed)} viewers did not end with done: {failed[:2]}", flush=True)
    return {"latency": latency, "delays": delays, "complete": complete, "finals": len(published)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--viewers", default="0,50,100,200")
    parser.add_argument("--spanish", type=float, default=0.2, help="share of viewers who ask for Spanish")
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--max-delay", type=float, default=0.5, help="viewer delay p95 (s) a held load stays under")
    parser.add_argument("--file", type=Path, default=DATA / "long_form" / "librispeech_concat_4spk.wav")
    args = parser.parse_args()
    counts = [int(n) for n in args.viewers.split(",")]
    samples = media.decode(args.file)[: round(args.seconds * 16000)]
    print(f"model {args.model}, one publisher of {args.seconds:g} s at real time, viewers in this process, "
          f"{args.spanish:.0%} of them in Spanish, 2 cores", flush=True)  # fmt: skip
    proc, port = start_server(args.model, 2, None, ("--max-viewers", str(max([*counts, 1])), "--max-rate", "0"))
    base: float | None = None
    try:
        for n in counts:
            r = asyncio.run(one_run(f"ws://127.0.0.1:{port}", samples, n, round(n * args.spanish)))
            p95 = pct(r["latency"], 95)
            base = p95 if base is None else base
            held = r["complete"] == n and (not r["delays"] or pct(r["delays"], 95) <= args.max_delay)
            delays = (f" | viewers: {r['complete']}/{n} got all {r['finals']} finals, delay after the publisher "
                      f"p50 {pct(r['delays'], 50):.3f} p95 {pct(r['delays'], 95):.3f} max "
                      f"{max(r['delays'], default=float('nan')):.3f} s | {'held' if held else 'NOT held'}"
                      if n else "")  # fmt: skip
            print(f"N={n}: publisher final latency p50 {pct(r['latency'], 50):.2f} p95 {p95:.2f} s "
                  f"({p95 / base:.2f}x N=0){delays}", flush=True)  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
