"""A real server on its own event-loop thread, and small websocket client helpers for tests."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.network import NetworkAudit
from voicestream.asr import AsrEngine
from voicestream.diarize.live import SpeakerModels
from voicestream.live.vad_stream import SileroFrameModel
from voicestream.server.listener import HttpServer
from voicestream.server.websocket import ServerConfig, VoicestreamServer


class RunningServer:
    """A server on its own event loop thread, on a free loopback port."""

    def __init__(self, engine: AsrEngine, speakers: SpeakerModels | None = None, **config: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = VoicestreamServer(engine, SileroFrameModel(), ServerConfig(port=0, **config), speakers)
        self.http = HttpServer(self.server)
        self.port = self.call(self.http.start())
        self.url = f"ws://127.0.0.1:{self.port}"

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def task_count(self) -> int:
        async def count() -> int:
            return len(asyncio.all_tasks())

        return int(self.call(count()))

    def close(self) -> None:
        self.call(self.http.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@contextlib.contextmanager
def serve_process(
    *args: str,
    audit: NetworkAudit | None = None,
    stop: signal.Signals | None = signal.SIGINT,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``voicestream serve`` with tiny.en on a free port, as a user runs it; yields the
    process and its URL, and stops it with ``stop`` (Ctrl-C; exit 0) afterwards (``None``: the
    test ends it itself, e.g. with SIGKILL; a process left running is killed). With ``audit`` the
    server runs under its network audit (``tests/network.py``); else in ``env`` if given."""
    argv = [sys.executable, "-m", "voicestream", "serve", "--port", "0", "--model", "tiny.en", *args]
    proc = subprocess.Popen(
        audit.argv(argv) if audit else argv,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=audit.env() if audit else env,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        url = None
        log: collections.deque[str] = collections.deque(maxlen=80)
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            log.append(line)
            match = re.search(r"ws://127\.0\.0\.1:(\d+)", line)
            if match:
                url = match.group(0)
        assert url, "server did not report its address; its log ends:\n" + "".join(log)
        # its log must not fill the pipe
        drain = threading.Thread(target=log.extend, args=(proc.stderr,), daemon=True)
        drain.start()
        yield proc, url
        if stop is None:
            return
        server = psutil.Process(proc.pid).children()[0] if audit else proc  # strace ignores Ctrl-C: ask its child
        server.send_signal(stop)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        drain.join(5)
        assert code == 0, f"serve exited with {code} after {stop.name}; its log ends:\n" + "".join(log)
    finally:
        if proc.poll() is None:
            if audit:  # the server runs under strace: killing strace alone would leave it running
                for child in psutil.Process(proc.pid).children(recursive=True):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        child.kill()
            proc.kill()
            proc.wait()


def open_ws(server: RunningServer, token: str | None = "s3cret", **kwargs: Any) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    # **kwargs could hold connect()'s ``legacy``, which picks between its overloads: not passed here
    ws: ClientConnection = connect(server.url, additional_headers=headers, **kwargs)
    return ws


def start_msg(**fields: Any) -> str:
    return json.dumps({"type": "start", "sample_rate": 16000, **fields})


def send(ws: ClientConnection, message: str | bytes) -> None:
    """Send, ignoring a connection the server already closed (close_code reads why)."""
    with contextlib.suppress(ConnectionClosed):
        ws.send(message)


def close_code(ws: ClientConnection, timeout: float = 10.0) -> tuple[int, str]:
    """Read until the server closes; returns (code, reason)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=deadline - time.monotonic())
    except ConnectionClosed as e:
        assert e.rcvd is not None
        return e.rcvd.code, e.rcvd.reason
    raise AssertionError("server did not close")
