"""``voicestream serve`` and ``voicestream stream`` as a user runs them, in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import serve_process

pytestmark = pytest.mark.models  # runs real models (through the CLI or in-process)


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """A ``voicestream serve`` process with tiny.en on a free port; yields its URL."""
    with serve_process("--max-rate", "0") as (_, url):
        yield url


def test_stream_cli_prints_finals_and_writes_events(served: str, data: Path, tmp_path: Path) -> None:
    """stream sends a file, prints timed finals and writes every event with recv_s."""
    out = tmp_path / "events.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "voicestream", "stream", str(data / "jfk_public_domain" / "jfk.flac"),
         "--url", served, "--speed", "4", "-o", str(out)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "country" in proc.stdout.lower() and proc.stdout.lstrip().startswith("[")
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert events[0]["type"] == "ready" and events[-1]["type"] == "done"
    finals = [e for e in events if e["type"] == "final"]
    assert finals and all("recv_s" in e and e["words"] for e in finals)
    assert all(set(w) == {"word", "start", "end", "probability"} for e in finals for w in e["words"])


def test_stream_cli_unreachable_server(data: Path) -> None:
    """An unreachable server is exit 9 with one line."""
    proc = subprocess.run(
        [sys.executable, "-m", "voicestream", "stream", str(data / "jfk_public_domain" / "jfk.flac"),
         "--url", "ws://127.0.0.1:1"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 9
    assert proc.stderr.strip().startswith("voicestream: error: cannot connect")
    assert "Traceback" not in proc.stderr
