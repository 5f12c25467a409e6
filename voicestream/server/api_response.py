"""A :class:`~voicestream.messages.Transcript` in the OpenAI speech-to-text response
formats (``json``, ``text``, ``srt``, ``vtt``, ``verbose_json``) and its stream events. Sans-I/O.

Subtitles are laid out by the same cue rules as ``voicestream transcribe``. In
``verbose_json`` a segment is one sentence; ``avg_logprob`` is the mean log-probability of
its words (the transcript keeps word, not token, probabilities), ``tokens`` is empty and
``no_speech_prob`` 0 (windows judged silent leave no segment at all).
"""

from __future__ import annotations

import functools
import json
import math
import zlib
from typing import Any

from voicestream.messages import Segment, Transcript, join_words
from voicestream.server.api_request import SpeechRequest
from voicestream.subtitles import SubtitleRules, build_cues
from voicestream.subtitles.formats import render

CONTENT_TYPES = {
    "json": "application/json",
    "verbose_json": "application/json",
    "text": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


def api_text(transcript: Transcript) -> str:
    """The whole text (no speaker labels): the words joined as spoken (spaces where the
    language writes them)."""
    return join_words(transcript.words)


def render_response(transcript: Transcript, request: SpeechRequest) -> tuple[str, str]:
    """``(content_type, body)`` of ``transcript`` in ``request.response_format``."""
    fmt = request.response_format
    if fmt == "json":
        body = json.dumps({"text": api_text(transcript), "usage": _usage(transcript)}, ensure_ascii=False)
    elif fmt == "verbose_json":
        body = json.dumps(verbose_json(transcript, request), ensure_ascii=False)
    elif fmt == "text":
        body = api_text(transcript) + "\n"
    else:
        rules = SubtitleRules(label_in_text=False)
        body = render(fmt, transcript, build_cues(transcript.words, transcript.duration_s, rules))
    return CONTENT_TYPES[fmt], body


def verbose_json(transcript: Transcript, request: SpeechRequest) -> dict[str, Any]:
    """The ``verbose_json`` document: task, language name, duration, text, sentence segments
    and, when ``word`` granularity was asked for, every word with its times (s)."""
    doc: dict[str, Any] = {
        "task": "translate" if request.task == "translate" else "transcribe",
        "language": "english" if request.task == "translate" else language_name(transcript.language),
        "duration": round(transcript.duration_s, 3),
        "text": api_text(transcript),
    }
    if "segment" in request.granularities:
        doc["segments"] = [_segment(k, s, request.temperatures[0]) for k, s in enumerate(transcript.segments)]
    if "word" in request.granularities:
        doc["words"] = [
            {"word": w.text.strip(), "start": round(w.start_s, 3), "end": round(w.end_s, 3)} for w in transcript.words
        ]
    doc["usage"] = _usage(transcript)
    return doc


def _segment(index: int, segment: Segment, temperature: float) -> dict[str, Any]:
    text = segment.text
    logprobs = [math.log(max(w.probability, 1e-6)) for w in segment.words]
    return {
        "id": index,
        "seek": round(segment.start_s * 100),  # Whisper's 10 ms frames
        "start": round(segment.start_s, 3),
        "end": round(segment.end_s, 3),
        "text": " " + text if text else "",
        "tokens": [],
        "temperature": temperature,
        "avg_logprob": round(sum(logprobs) / len(logprobs), 4) if logprobs else 0.0,
        "compression_ratio": round(_compression_ratio(text), 4),
        "no_speech_prob": 0.0,
    }


def _compression_ratio(text: str) -> float:
    raw = text.encode()
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def _usage(transcript: Transcript) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(transcript.duration_s)}


@functools.cache
def language_name(code: str) -> str:
    """The English name of ISO code ``code`` in lower case (``de`` -> ``german``), as the
    API writes it; the code itself when pycountry (the dub extra) is missing or has none."""
    try:
        import pycountry
    except ImportError:
        return code
    found = pycountry.languages.get(alpha_2=code) if len(code) == 2 else pycountry.languages.get(alpha_3=code)
    name = getattr(found, "name", None)
    return str(name).split(" (")[0].split(";")[0].lower() if name else code


def delta_event(text: str) -> str:
    """A server-sent ``transcript.text.delta`` event."""
    return _sse({"type": "transcript.text.delta", "delta": text})


def done_event(text: str) -> str:
    """The server-sent ``transcript.text.done`` event that ends a stream."""
    return _sse({"type": "transcript.text.done", "text": text})


def error_event(body: dict[str, Any]) -> str:
    """A server-sent ``error`` event (the error body of a failure after the stream began)."""
    return f"event: error\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"


def _sse(doc: dict[str, Any]) -> str:
    return f"data: {json.dumps(doc, ensure_ascii=False)}\n\n"


KEEPALIVE = ": keepalive\n\n"
"""An SSE comment: keeps proxies from closing a stream while a long file is decoded."""
