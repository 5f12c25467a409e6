"""espeak-ng phonemes (Piper's bundled espeak-ng) from a helper process of their own.

espeak-ng is one process-global C library, and Piper's bridge to it crashed a long-lived
server with SIGSEGV inside ``get_phonemes`` (a clean-clone CI run, not reproducible on
demand). Kokoro and Piper therefore never call it in the server's process: one helper
process per server process answers phonemize requests one at a time over pipes. A crash
there costs one retry (a fresh helper), never a session; the helper is also replaced
every :data:`MAX_REQUESTS` requests because the bridge leaks a tuple per clause.

Run as ``python -m voicestream.tts.phonemes`` it is that helper: JSON lines in
(``{"voice", "text", "clusters"}``), JSON lines out (``{"sentences"}`` or ``{"error"}``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import select
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import IO, Any

from voicestream.errors import ModelError

MAX_REQUESTS = 5000
"""Requests one helper serves before it is replaced."""
TIMEOUT_S = 30.0
"""Longest wait for one reply (a sentence takes milliseconds): a hung helper is replaced."""


class EspeakPhonemizer:
    """Phonemizes through the helper process; thread-safe (requests are serialized)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._served = 0
        self._lock = threading.Lock()

    def phonemize(self, voice: str, text: str, clusters: Iterable[Sequence[str]] = ()) -> list[list[str]]:
        """Phonemes of ``text`` in espeak-ng voice ``voice``: one list of symbols (NFD code
        points, punctuation kept) per sentence, as Piper's ``EspeakPhonemizer`` gives them.

        Raises:
            ModelError: piper-tts is missing, the voice is unknown, or espeak-ng crashed twice.
        """
        request = json.dumps({"voice": voice, "text": text, "clusters": [list(c) for c in clusters]})
        with self._lock:
            for attempt in range(2):
                try:
                    reply = self._ask(request)
                    break
                except (OSError, ValueError) as e:
                    self._stop()
                    if attempt:
                        raise ModelError(f"espeak-ng failed twice phonemizing {text[:40]!r}: {e}") from e
        if "error" in reply:
            raise ModelError(str(reply["error"]))
        return [list(s) for s in reply["sentences"]]

    def close(self) -> None:
        """Stop the helper (a later request starts a new one)."""
        with self._lock:
            self._stop()

    def _ask(self, request: str) -> dict[str, Any]:
        if self._proc is None or self._served >= MAX_REQUESTS:
            self._stop()
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
            )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._served += 1
        self._proc.stdin.write(request.encode() + b"\n")
        self._proc.stdin.flush()
        if not select.select([self._proc.stdout], [], [], TIMEOUT_S)[0]:
            raise OSError(f"the phonemizer helper did not answer in {TIMEOUT_S:.0f} s")
        line = self._proc.stdout.readline()
        if not line:
            raise OSError(f"the phonemizer helper exited with code {self._proc.wait()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _stop(self) -> None:
        proc, self._proc, self._served = self._proc, None, 0
        if proc is None:
            return
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # an unflushed request to a helper that died
                    pipe.close()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


PHONEMIZER = EspeakPhonemizer()
"""The process's one helper, shared by every synthesizer."""
atexit.register(PHONEMIZER.close)


def serve(requests: IO[str], replies: IO[str]) -> None:
    """The helper's loop: one JSON reply line per JSON request line, until end of input."""
    try:
        from piper.phonemize_espeak import EspeakPhonemizer as Bridge
    except ImportError:
        bridge = None
    else:
        bridge = Bridge()
    for line in requests:
        reply: dict[str, Any]
        if bridge is None:
            reply = {"error": "espeak-ng phonemes need piper-tts (the 'dub' extra)"}
        else:
            try:
                request = json.loads(line)
                clusters = {tuple(c) for c in request["clusters"]} or None
                reply = {"sentences": bridge.phonemize(request["voice"], request["text"], vowel_clusters=clusters)}
            except (RuntimeError, ValueError, KeyError, TypeError) as e:  # unknown voice, bad request
                reply = {"error": f"espeak-ng: {e}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
