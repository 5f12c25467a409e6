"""``voicestream serve`` and ``voicestream stream`` as a user runs them, in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from websockets.frames import CloseCode
from websockets.sync.client import connect

from tests.servers import close_code, serve_process, start_msg
from voicestream import media
from voicestream.live.runner import REVISION_NICE

CLOSE_GOING_AWAY = int(CloseCode.GOING_AWAY)

pytestmark = pytest.mark.models  # runs real models (through the CLI or in-process)


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """A ``voicestream serve`` process with tiny.en on a free port; yields its URL. Stopped
    with SIGTERM (as ``docker stop`` does), which must end it as Ctrl-C does (exit 0)."""
    with serve_process("--max-rate", "0", stop=signal.SIGTERM) as (_, url):
        yield url


def test_stream_cli_prints_finals_and_writes_events(served: str, data: Path, tmp_path: Path) -> None:
    """stream sends a file, prints timed finals and writes every event with recv_s; the
    growing subtitle files (--srt, --vtt) end as the server's export of the session."""
    out, subs, captions = tmp_path / "events.jsonl", tmp_path / "live.srt", tmp_path / "live.vtt"
    proc = subprocess.run(
        [sys.executable, "-m", "voicestream", "stream", str(data / "jfk_public_domain" / "jfk.flac"),
         "--url", served, "--speed", "4", "-o", str(out), "--srt", str(subs), "--vtt", str(captions)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "country" in proc.stdout.lower() and proc.stdout.lstrip().startswith("[")
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert events[0]["type"] == "ready" and events[-1]["type"] == "done"
    finals = [e for e in events if e["type"] == "final"]
    assert finals and all("recv_s" in e and e["words"] for e in finals)
    assert all(set(w) == {"word", "start", "end", "probability"} for e in finals for w in e["words"])
    exports = {e["format"]: e["text"] for e in events if e["type"] == "subtitles"}
    assert subs.read_text() == exports["srt"] and captions.read_text() == exports["vtt"]
    assert "country" in subs.read_text().lower() and captions.read_text().startswith("WEBVTT")


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


def test_sigterm_ends_open_sessions_and_the_process(data: Path) -> None:
    """SIGTERM mid-session (``docker stop``): the client is told "going away" (1001) and
    the server exits 0."""
    speech = (media.decode(data / "jfk_public_domain" / "jfk.flac") * 32767).astype("<i2")
    with serve_process("--max-rate", "0", stop=signal.SIGTERM) as (proc, url), connect(url) as ws:
        ws.send(start_msg())
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        for frame in np.array_split(speech[: 16000 * 4], 40):  # 4 s, then the server is stopped
            ws.send(frame.tobytes())
        ws.recv(timeout=60)  # an event: the session is under way
        proc.send_signal(signal.SIGTERM)
        assert close_code(ws, timeout=30)[0] == CLOSE_GOING_AWAY
        assert proc.wait(timeout=30) == 0


@pytest.mark.skipif(
    not Path("/proc/self/task").is_dir() or os.getpriority(os.PRIO_PROCESS, 0) >= REVISION_NICE,
    reason="reads thread priorities from /proc (Linux), below the revision niceness",
)
def test_serve_revises_on_a_low_priority_model_copy_unless_told_to_share() -> None:
    """On CPU ``serve`` loads a second copy of the model for revisions, its one compute thread
    at :data:`~voicestream.live.runner.REVISION_NICE` (the speech worker may have that
    niceness too); ``--shared-revisions`` loads none."""

    def niced_threads(*args: str) -> int:
        with serve_process(*args) as (proc, _url):
            tasks = Path(f"/proc/{proc.pid}/task").iterdir()
            return sum(int((t / "stat").read_text().rsplit(")", 1)[1].split()[16]) == REVISION_NICE for t in tasks)

    assert niced_threads() == niced_threads("--shared-revisions") + 1
