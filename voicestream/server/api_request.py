"""The OpenAI-style speech-to-text request, read from its form fields. Sans-I/O.

``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` take multipart fields
(``model``, ``language``, ``prompt``, ``temperature``, ``response_format``,
``timestamp_granularities[]``, ``stream``) besides the file; :func:`parse_request` checks
them against what the server can do and raises :class:`ApiError` with the status, type and
parameter the OpenAI error body names.
"""

from __future__ import annotations

import http
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from voicestream.asr import Task

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
ALIASES = ("whisper-1",)
"""Model names clients hard-code, served by the server's own model."""
MAX_PROMPT_CHARS = 4096
"""Longest ``prompt`` (characters): Whisper keeps only its last 223 tokens anyway."""
TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off", "")

Granularity = Literal["segment", "word"]


class ApiError(Exception):
    """An error as the OpenAI API reports it: HTTP ``status`` and the body's fields.

    Attributes:
        status: HTTP status code.
        message: One line a user can act on.
        type: ``invalid_request_error``, ``authentication_error``, ``rate_limit_error``...
        param: The request field at fault, if one is.
        code: A short machine-readable code, if one applies.
    """

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, dict[str, str | None]]:
        """The JSON error body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    """A 400 ``invalid_request_error``."""
    return ApiError(http.HTTPStatus.BAD_REQUEST, message, param=param, code=code)


@dataclass(frozen=True, slots=True)
class SpeechRequest:
    """One transcription or translation request.

    Attributes:
        task: ``transcribe`` (text in the spoken language) or ``translate`` (English).
        model: The model name the client asked for (the served one or an alias).
        language: ISO code of the speech, ``None`` to detect it.
        prompt: Context text for the decoder (names, spelling style), ``None`` for none.
        temperatures: Sampling temperatures tried in turn (``(0.0, 0.2, ...)`` by default).
        response_format: One of :data:`RESPONSE_FORMATS`.
        granularities: Timestamps asked for in ``verbose_json`` (``segment``, ``word``).
        stream: Whether the text comes back as server-sent events while it is decoded.
    """

    task: Task
    model: str
    language: str | None = None
    prompt: str | None = None
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    response_format: str = "json"
    granularities: tuple[Granularity, ...] = ("segment",)
    stream: bool = False


def parse_request(
    task: Task,
    fields: Mapping[str, Sequence[str]],
    served: str,
    multilingual: bool,
    languages: Sequence[str],
) -> SpeechRequest:
    """The request in form ``fields`` (name -> values), for a server whose model is
    ``served`` (``multilingual`` or English-only, knowing ``languages``).

    Raises:
        ApiError: 400 for a missing or unknown model, an unknown language or format, a
            temperature outside 0-1, a prompt over :data:`MAX_PROMPT_CHARS`, streaming
            with a format other than json/text, or a task the model cannot do.
    """

    def one(name: str) -> str | None:
        values = fields.get(name) or ()
        return values[-1].strip() if values else None

    model = one("model")
    if not model:
        raise bad_request("you must provide a model parameter", "model")
    if model != served and model not in ALIASES:
        raise ApiError(
            http.HTTPStatus.NOT_FOUND,
            f"the model '{model}' does not exist here; this server runs '{served}' (also answers to "
            f"{', '.join(ALIASES)}): GET /v1/models lists them",
            param="model",
            code="model_not_found",
        )
    language = (one("language") or "").lower() or None
    if task == "translate" and not multilingual:
        raise bad_request(f"the model '{served}' is English-only and cannot translate", "model")
    if language is not None and language not in languages:
        raise bad_request(f"unknown language '{language}'; use an ISO 639-1 code such as en, de, fr", "language")
    if language not in (None, "en") and not multilingual:
        raise bad_request(f"the model '{served}' is English-only; it cannot transcribe '{language}'", "language")
    prompt = one("prompt") or None
    if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
        raise bad_request(f"prompt over {MAX_PROMPT_CHARS} characters", "prompt")
    fmt = (one("response_format") or "json").lower()
    if fmt not in RESPONSE_FORMATS:
        raise bad_request(
            f"unknown response_format '{fmt}'; use one of: {', '.join(RESPONSE_FORMATS)}", "response_format"
        )
    stream = _flag(one("stream"), "stream")
    if stream and fmt not in ("json", "text"):
        raise bad_request("stream=true sends text events: use response_format json or text", "stream")
    granularities = _granularities(
        [*fields.get("timestamp_granularities[]", ()), *fields.get("timestamp_granularities", ())]
    )
    if "word" in granularities and fmt != "verbose_json":
        raise bad_request("timestamp_granularities needs response_format=verbose_json", "timestamp_granularities")
    return SpeechRequest(
        task=task, model=model, language=language, prompt=prompt, temperatures=_temperatures(one("temperature")),
        response_format=fmt, granularities=granularities, stream=stream,
    )  # fmt: skip


def _flag(value: str | None, name: str) -> bool:
    text = (value or "").lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise bad_request(f"{name} must be true or false, not '{value}'", name)


def _temperatures(value: str | None) -> tuple[float, ...]:
    """0 (the default) lets the decoder raise the temperature when a window fails its checks,
    as the API documents; a higher value starts there."""
    ladder = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    if value is None or value == "":
        return ladder
    try:
        t = float(value)
    except ValueError:
        raise bad_request(f"temperature must be a number between 0 and 1, not '{value}'", "temperature") from None
    if not 0.0 <= t <= 1.0:
        raise bad_request(f"temperature must be between 0 and 1, not {t:g}", "temperature")
    return (t, *(x for x in ladder if x > t))


def _granularities(values: Sequence[str]) -> tuple[Granularity, ...]:
    if not values:
        return ("segment",)
    out: list[Granularity] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if name == "word":
                out.append("word")
            elif name == "segment":
                out.append("segment")
            elif name:
                raise bad_request(
                    f"unknown timestamp granularity '{name}'; use segment or word", "timestamp_granularities"
                )
    return tuple(dict.fromkeys(out))
