"""Helper processes: work that must not run in the server's process, one request at a time over pipes.

The protocol: one JSON request line in, then the raw bytes its ``"payload"`` field counts
(none when the field is absent); one JSON reply line out, followed the same way by its payload. A helper that crashes,
hangs past its timeout or answers garbage is replaced, and the request tried once more in
a fresh one; a helper is also replaced every ``max_requests`` requests (leaks in the
libraries it hosts stay bounded). A helper dies with the process that started it, even
while it is stopped (SIGSTOP: see :mod:`voicestream.live.pause`). A helper started
with ``own_group`` leads a process group of its own, which holds the programs it runs
(ffmpeg, a nested helper): :func:`signal_group` stops or resumes them all.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from voicestream.errors import ModelError

Reply = tuple[dict[str, Any], bytes]
"""A reply's JSON object and the bytes that came after it."""


class HelperProcess:
    """Client of one helper process (``python -m module *args``), started on first use;
    thread-safe (requests are serialized)."""

    def __init__(
        self,
        module: str,
        args: Sequence[str] = (),
        timeout_s: float = 30.0,
        max_requests: int = 5000,
        own_group: bool = False,
    ) -> None:
        """``timeout_s``: longest wait for one reply's first line (a stopped helper's time
        counts: leave room for that); ``max_requests``: requests before a helper is replaced;
        ``own_group``: the helper leads a process group of its own (POSIX)."""
        self.module = module
        self.own_group = own_group and hasattr(os, "killpg")
        self._argv = [sys.executable, "-m", module, *args]
        self.timeout_s = timeout_s
        self.max_requests = max_requests
        self._proc: subprocess.Popen[bytes] | None = None
        self._served = 0
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The running helper's process id (``None`` before the first request or after a failure)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def ask(self, request: dict[str, Any], what: str, payload: bytes = b"") -> Reply:
        """Send ``request`` (and ``payload`` after it) and return the reply; ``what`` names the
        request in errors.

        Raises:
            ModelError: the helper failed twice (crashed, hung, or answered garbage).
        """
        line = json.dumps({**request, "payload": len(payload)} if payload else request).encode() + b"\n" + payload
        with self._lock:
            for attempt in range(2):
                try:
                    return self._ask(line)
                except (OSError, ValueError) as e:
                    self._stop()
                    if attempt:
                        raise ModelError(f"{self.module} failed twice {what}: {e}") from e
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the helper (a later request starts a new one)."""
        with self._lock:
            self._stop()

    def _ask(self, line: bytes) -> Reply:
        if self._proc is None or self._served >= self.max_requests:
            self._stop()
            self._proc = subprocess.Popen(
                self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
                process_group=0 if self.own_group else None,
            )  # fmt: skip
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._served += 1
        self._proc.stdin.write(line)
        self._proc.stdin.flush()
        if not select.select([self._proc.stdout], [], [], self.timeout_s)[0]:
            raise OSError(f"no answer in {self.timeout_s:.0f} s")
        head = self._proc.stdout.readline()
        if not head:
            raise OSError(f"the helper exited with code {self._proc.wait()}")
        reply: dict[str, Any] = json.loads(head)
        size = int(reply.pop("payload", 0))
        payload = self._proc.stdout.read(size) if size else b""
        if len(payload) != size:
            raise OSError(f"the helper exited after {len(payload)} of {size} bytes")
        return reply, payload

    def _stop(self) -> None:
        proc, self._proc, self._served = self._proc, None, 0
        if proc is None:
            return
        if hasattr(signal, "SIGCONT"):
            with contextlib.suppress(OSError):
                signal_group(proc.pid, signal.SIGCONT)  # a stopped helper must run to see its input close
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # an unflushed request to a helper that died
                    pipe.close()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def signal_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group ``pid`` leads, or to ``pid`` alone when it leads none.

    Raises:
        ProcessLookupError: no such process; PermissionError: not ours to signal.
    """
    if hasattr(os, "killpg") and os.getpgid(pid) == pid:
        os.killpg(pid, sig)
    else:
        os.kill(pid, sig)


def serve(handle: Callable[[dict[str, Any]], Reply]) -> None:
    """A helper's loop: ``handle`` each request of stdin until end of input (its payload
    bytes, when it has one, under ``"payload"``), writing its reply (and payload) to stdout.
    Whatever the hosted libraries print goes to stderr."""
    _die_with_parent()
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints from libraries must not corrupt the replies
    requests = sys.stdin.buffer
    while line := requests.readline():
        reply: dict[str, Any]
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("not an object")
            size = int(request.get("payload", 0))
            if size:
                request["payload"] = requests.read(size)
        except ValueError as e:
            reply, payload = {"error": f"bad request: {e}"}, b""
        else:
            reply, payload = handle(request)
        if payload:
            reply = {**reply, "payload": len(payload)}
        replies.write(json.dumps(reply).encode() + b"\n" + payload)
        replies.flush()


def _die_with_parent() -> None:
    """Linux: have the kernel kill this process when its parent exits (also while stopped).

    Strictly, when the parent's *thread* that started it exits: helpers are started from
    long-lived worker threads; one killed early costs a retry in a fresh helper."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
