"""Minimal example: stream a media file to a running ``voicestream serve`` and print finals.

uv run python clients/python/stream_file.py talk.mp4 ws://127.0.0.1:8765
"""

import asyncio
import sys

from voicestream.client import stream_file


def main() -> None:
    path, url = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "ws://127.0.0.1:8765"
    events = asyncio.run(
        stream_file(url, path, speed=1.0, on_event=lambda e: e["type"] == "final" and print(e["text"]))
    )
    print(f"{sum(e['type'] == 'final' for e in events)} finals")


if __name__ == "__main__":
    main()
