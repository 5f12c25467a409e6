"""Speech synthesis in a helper process (:mod:`voicestream.helper`), so a live server can
pause it while captions decode (:mod:`voicestream.live.pause`): on a machine whose
cores share execution units, any second job slows a decode, whatever its priority.

Run as ``python -m voicestream.tts.remote THREADS NICE`` it is that helper: requests
``{"engine", "voice", "text", "speed"}`` (``voice`` a :class:`~voicestream.tts.base.Voice`
as a JSON object) or ``{"stretch": TEMPO, "rate"}`` followed by samples, replies ``{"rate"}``
followed by the samples (float32, native order), or ``{"error"}``. It leads a process group
of its own, so stopping it also stops what it runs (the phonemizer, ffmpeg's Rubber Band).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from voicestream.audio.stretch import stretch
from voicestream.errors import MediaDecodeError, ModelError, VoicestreamError
from voicestream.helper import HelperProcess, Reply, serve
from voicestream.tts.base import Speech, Synthesizer, Voice
from voicestream.tts.offline import offline_synthesizers

TIMEOUT_S = 300.0
"""Longest wait for one clip: synthesis takes seconds, and the helper may be paused."""


class RemoteSynthesizer:
    """A :class:`~voicestream.tts.base.Synthesizer` whose voices are listed here and spoken by
    the helper process (``local`` lists them; it never loads a model here)."""

    def __init__(self, local: Synthesizer, helper: HelperProcess) -> None:
        self.name = local.name
        self._local = local
        self._helper = helper

    def voices(self, language: str) -> list[Voice]:
        """``local``'s voices for ``language``."""
        return self._local.voices(language)

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Speech:
        """Speak ``text`` in the helper; 24/22.05 kHz (the engine's rate) mono float32.

        Raises:
            ModelError: the engine failed, or the helper failed twice.
        """
        request = {"engine": self.name, "voice": dataclasses.asdict(voice), "text": text, "speed": speed}
        reply, payload = self._helper.ask(request, f"speaking {text[:40]!r}")
        if "error" in reply:
            raise ModelError(str(reply["error"]))
        return Speech(np.frombuffer(payload, np.float32).copy(), int(reply["rate"]))


class RemoteStretch:
    """:func:`~voicestream.audio.stretch.stretch` run by the helper process."""

    def __init__(self, helper: HelperProcess) -> None:
        self._helper = helper

    def __call__(self, samples: npt.NDArray[np.float32], sample_rate: int, tempo: float) -> npt.NDArray[np.float32]:
        """``samples`` (float32 ``(n,)`` at ``sample_rate`` Hz) ``tempo`` times faster, pitch kept.

        Raises:
            MediaDecodeError: ffmpeg failed there; ModelError: the helper failed twice.
        """
        if abs(tempo - 1.0) < 1e-3 or samples.size == 0:
            return samples
        data = np.ascontiguousarray(samples, np.float32).tobytes()
        reply, payload = self._helper.ask({"stretch": tempo, "rate": sample_rate}, "stretching", data)
        if "error" in reply:
            raise MediaDecodeError(str(reply["error"]))
        return np.frombuffer(payload, np.float32).copy()


def remote_synthesizers(
    local: Sequence[Synthesizer], threads: int | None, nice: int = 0
) -> tuple[list[Synthesizer], HelperProcess]:
    """``local``'s engines spoken by one helper process (``threads`` model threads there, all
    cores when ``None``; CPU priority lowered by ``nice``; a process group of its own), and
    that helper."""
    helper = HelperProcess(__name__, [str(threads or 0), str(nice)], timeout_s=TIMEOUT_S, own_group=True)
    return [RemoteSynthesizer(s, helper) for s in local], helper


def _handler(threads: int) -> Any:
    """The helper's request handler around the offline synthesizers."""

    engines = {s.name: s for s in offline_synthesizers(threads or None)}

    def handle(request: dict[str, Any]) -> Reply:
        if "stretch" in request:
            return _stretch(request)
        try:
            voice = Voice(**request["voice"])
            speech = engines[request["engine"]].synthesize(str(request["text"]), voice, float(request["speed"]))
        except (KeyError, TypeError, ValueError) as e:
            return {"error": f"bad synthesis request: {e!r}"}, b""
        except VoicestreamError as e:
            return {"error": str(e)}, b""
        except Exception as e:  # an engine's own failure: this request fails, the helper stays
            return {"error": f"{request['engine']} failed: {e!r}"[:300]}, b""
        return {"rate": speech.sample_rate}, np.ascontiguousarray(speech.samples, np.float32).tobytes()

    return handle


def _stretch(request: dict[str, Any]) -> Reply:
    try:
        samples = np.frombuffer(request.get("payload", b""), np.float32)
        out = stretch(samples, int(request["rate"]), float(request["stretch"]))
    except (KeyError, TypeError, ValueError) as e:
        return {"error": f"bad stretch request: {e!r}"}, b""
    except VoicestreamError as e:
        return {"error": str(e)}, b""
    return {"rate": int(request["rate"])}, np.ascontiguousarray(out, np.float32).tobytes()


if __name__ == "__main__":
    threads, nice = (int(a) for a in [*sys.argv[1:], "0", "0"][:2])
    os.nice(nice)
    serve(_handler(threads))
