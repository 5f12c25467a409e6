"""espeak-ng phonemes (Piper's bundled espeak-ng) from a helper process of their own.

espeak-ng is one process-global C library, and Piper's bridge to it crashed a long-lived
server with SIGSEGV inside ``get_phonemes`` (a clean-clone CI run, not reproducible on
demand). Kokoro and Piper therefore never call it in the server's process: one helper
process per process that synthesizes answers phonemize requests one at a time over pipes
(:mod:`voicestream.helper`). A crash there costs one retry (a fresh helper), never a
session; the helper is also replaced every :data:`MAX_REQUESTS` requests because the
bridge leaks a tuple per clause.

Run as ``python -m voicestream.tts.phonemes`` it is that helper: requests
``{"voice", "text", "clusters"}``, replies ``{"sentences"}`` or ``{"error"}``.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterable, Sequence
from typing import Any

from voicestream.errors import ModelError
from voicestream.helper import HelperProcess, Reply, serve

MAX_REQUESTS = 5000
"""Requests one helper serves before it is replaced."""
TIMEOUT_S = 30.0
"""Longest wait for one reply (a sentence takes milliseconds): a hung helper is replaced."""


class EspeakPhonemizer:
    """Phonemizes through the helper process; thread-safe (requests are serialized)."""

    def __init__(self) -> None:
        self.helper = HelperProcess(__name__, timeout_s=TIMEOUT_S, max_requests=MAX_REQUESTS)

    def phonemize(self, voice: str, text: str, clusters: Iterable[Sequence[str]] = ()) -> list[list[str]]:
        """Phonemes of ``text`` in espeak-ng voice ``voice``: one list of symbols (NFD code
        points, punctuation kept) per sentence, as Piper's ``EspeakPhonemizer`` gives them.

        Raises:
            ModelError: piper-tts is missing, the voice is unknown, or espeak-ng crashed twice.
        """
        request = {"voice": voice, "text": text, "clusters": [list(c) for c in clusters]}
        reply, _ = self.helper.ask(request, f"phonemizing {text[:40]!r}")
        if "error" in reply:
            raise ModelError(str(reply["error"]))
        return [list(s) for s in reply["sentences"]]

    def close(self) -> None:
        """Stop the helper (a later request starts a new one)."""
        self.helper.close()


PHONEMIZER = EspeakPhonemizer()
"""The process's one helper, shared by every synthesizer."""
atexit.register(PHONEMIZER.close)


def _handler() -> Any:
    """The helper's request handler around Piper's espeak-ng bridge."""
    try:
        from piper.phonemize_espeak import EspeakPhonemizer as Bridge  # the voices come with the dub extra
    except ImportError:
        bridge = None
    else:
        bridge = Bridge()

    def handle(request: dict[str, Any]) -> Reply:
        if bridge is None:
            return {"error": "espeak-ng phonemes need piper-tts (the 'dub' extra)"}, b""
        try:
            clusters = {tuple(c) for c in request["clusters"]} or None
            return {"sentences": bridge.phonemize(request["voice"], request["text"], vowel_clusters=clusters)}, b""
        except (RuntimeError, ValueError, KeyError, TypeError) as e:  # unknown voice, bad request
            return {"error": f"espeak-ng: {e}"}, b""

    return handle


if __name__ == "__main__":
    serve(_handler())
