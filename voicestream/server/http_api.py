"""The OpenAI-style speech-to-text HTTP API of ``voicestream serve`` (same port, token and
origin rules as the websocket).

``GET /v1/models`` lists the served model; ``POST /v1/audio/transcriptions`` and
``/v1/audio/translations`` take a multipart upload, size-limited while it arrives and spooled
to a temporary file that is deleted when the request ends, decoded with the CLI's ffmpeg
rules and transcribed by :class:`~voicestream.server.file_jobs.FileJobs` on the live sessions'
inference workers. Every failure is the API's JSON error body with its status: 400 bad
request, 401 token, 403 origin, 404 model, 413 too large, 415 not media, 429 all file jobs
busy, 503 not taking files.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from python_multipart.exceptions import MultipartParseError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from voicestream import media
from voicestream.asr import Task, language_codes
from voicestream.errors import FfmpegMissingError, MediaDecodeError, NoAudioStreamError, NoSpeechError
from voicestream.messages import Transcript, Word
from voicestream.server.api_request import ALIASES, ApiError, SpeechRequest, bad_request, parse_request
from voicestream.server.api_response import (
    KEEPALIVE,
    api_text,
    delta_event,
    done_event,
    error_event,
    render_response,
)
from voicestream.server.file_jobs import JobCancelledError, JobsFullError, Slot
from voicestream.server.transport import path_and_query

if TYPE_CHECKING:
    from voicestream.server.websocket import VoicestreamServer

FORM_SLACK = 64 * 1024
"""Bytes a multipart body may hold besides the file (boundaries, the other fields)."""
DRAIN_SLACK = 16 * 1024 * 1024
"""Bytes of a refused upload read (and dropped) so the client gets the error, not a reset."""
COPY_CHUNK = 1024 * 1024
UPLOAD_TIMEOUT_S = 600.0
"""Longest time an upload may take to arrive (s): a slow sender cannot hold a job slot for ever."""
KEEPALIVE_S = 15.0
"""Seconds without news after which a streamed response sends a keepalive comment."""

log = logging.getLogger("voicestream.server")


class _TooLargeError(Exception):
    pass


class _Body:
    """The request body's ``receive``, counting bytes and refusing past ``limit``."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self.read = 0
        self.done = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
            if self.read > self.limit:
                raise _TooLargeError
        elif message["type"] == "http.disconnect":
            self.done = True
        return message

    async def drain(self, cap: int) -> None:
        """Read and drop what is left of the body, up to ``cap`` bytes in all."""
        while not self.done and self.read <= cap:
            message = await self._receive()
            if message["type"] != "http.request":
                return
            self.read += len(message.get("body", b""))
            self.done = not message.get("more_body", False)


class SpeechApi:
    """The ``/v1`` routes of one :class:`~voicestream.server.websocket.VoicestreamServer`."""

    def __init__(self, server: VoicestreamServer) -> None:
        self.server = server
        self.config = server.config
        self.jobs = server.file_jobs
        self.created = int(time.time())

    def routes(self) -> list[BaseRoute]:
        """The API's routes (before the page's catch-all)."""
        return [
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/models/{model:path}", self.model, methods=["GET"]),
            Route("/v1/audio/transcriptions", self.transcriptions, methods=["POST"]),
            Route("/v1/audio/translations", self.translations, methods=["POST"]),
        ]

    def _model(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self.created, "owned_by": "voicestream"}

    async def models(self, request: Request) -> Response:
        """``GET /v1/models``: the served model, then the aliases it answers to."""
        try:
            self._check_access(request)
        except ApiError as e:
            return _error(e)
        names = [self.server.engine.name, *ALIASES]
        return JSONResponse({"object": "list", "data": [self._model(n) for n in names]})

    async def model(self, request: Request) -> Response:
        """``GET /v1/models/{model}``: one of :meth:`models`, or 404."""
        try:
            self._check_access(request)
            name = request.path_params["model"]
            if name != self.server.engine.name and name not in ALIASES:
                raise ApiError(
                    http.HTTPStatus.NOT_FOUND, f"the model '{name}' does not exist here", code="model_not_found"
                )
        except ApiError as e:
            return _error(e)
        return JSONResponse(self._model(name))

    async def transcriptions(self, request: Request) -> Response:
        """``POST /v1/audio/transcriptions``."""
        return await self._speech(request, "transcribe")

    async def translations(self, request: Request) -> Response:
        """``POST /v1/audio/translations``: English text of speech in any language."""
        return await self._speech(request, "translate")

    def _check_access(self, request: Request) -> None:
        headers = request.headers
        if not self.server.origin_allowed(headers.get("origin"), headers.get("host")):
            raise ApiError(
                http.HTTPStatus.FORBIDDEN, "origin not allowed", "permission_error", code="origin_not_allowed"
            )
        if not self.server.token_ok(headers, path_and_query(request.url.path, request.url.query)):
            raise ApiError(
                http.HTTPStatus.UNAUTHORIZED, "missing or wrong token (send it as the API key: "
                "Authorization: Bearer ...)", "invalid_request_error", code="invalid_api_key",
            )  # fmt: skip

    def _admit(self) -> Slot:
        """A slot for one more file job: 503 when the server takes none, 429 when all are taken."""
        if self.config.file_jobs < 1 or self.server.closing:
            no_jobs = self.config.file_jobs < 1
            why = "this server takes no files (--file-jobs 0)" if no_jobs else "the server is stopping"
            raise ApiError(http.HTTPStatus.SERVICE_UNAVAILABLE, why, "server_error", code="unavailable")
        try:
            return self.jobs.admit()
        except JobsFullError:
            raise ApiError(
                http.HTTPStatus.TOO_MANY_REQUESTS, f"{self.jobs.limit} file job(s) running, the most this server "
                "takes at once; try again shortly", "rate_limit_error", code="rate_limit_exceeded",
            ) from None  # fmt: skip

    async def _speech(self, request: Request, task: Task) -> Response:
        limit = self.config.max_upload_bytes
        body = _Body(request.receive, limit + FORM_SLACK)
        request = Request(request.scope, body.receive)
        cleanup = _Cleanup()
        try:
            self._check_access(request)
            slot = cleanup.slot = self._admit()  # held from the upload's first byte to the job's end
            cleanup.folder = Path(tempfile.mkdtemp(prefix="voicestream-upload-"))
            fields, path = await self._receive(request, body, cleanup.folder)
            engine = self.server.engine
            speech = parse_request(task, fields, engine.name, engine.multilingual, language_codes())
            duration_s = await self._check_media(path)
            if speech.stream:
                response = _EventStream(self._events(slot, path, speech, duration_s), cleanup)
                cleanup = _Cleanup()  # the response cleans up after itself, whatever happens to it
                return response
            transcript = await self._transcribe(slot, path, speech, duration_s, request)
            if transcript is None:  # the client went away
                return Response(status_code=499)
            kind, text = render_response(transcript, speech)
            return Response(text.encode(), headers={"Content-Type": kind})
        except ApiError as e:
            await body.drain(limit + DRAIN_SLACK)
            return _error(e)
        except ClientDisconnect:
            return Response(status_code=499)
        except Exception:
            log.exception("speech request failed")
            return _error(ApiError(http.HTTPStatus.INTERNAL_SERVER_ERROR, "internal error", "server_error"))
        finally:
            await cleanup.run()

    async def _receive(self, request: Request, body: _Body, folder: Path) -> tuple[dict[str, list[str]], Path]:
        """The form's text fields and the uploaded file, copied to ``folder``."""
        kind = request.headers.get("content-type", "")
        if not kind.lower().startswith("multipart/form-data"):
            raise ApiError(
                http.HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the audio as multipart/form-data with a 'file' field",
                code="unsupported_media_type",
            )  # fmt: skip
        limit = self.config.max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > body.limit:
            raise _too_large(limit)
        try:
            async with asyncio.timeout(UPLOAD_TIMEOUT_S):
                form = await request.form(max_files=1, max_fields=32, max_part_size=64 * 1024)
        except TimeoutError:
            raise ApiError(http.HTTPStatus.REQUEST_TIMEOUT, f"upload not received within {UPLOAD_TIMEOUT_S:g} s",
                           code="upload_timeout") from None  # fmt: skip
        except _TooLargeError:
            raise _too_large(limit) from None
        except (HTTPException, MultiPartException, MultipartParseError) as e:
            detail = getattr(e, "detail", None) or getattr(e, "message", None) or str(e)
            raise bad_request(f"unreadable multipart form: {detail}") from None
        try:
            fields: dict[str, list[str]] = {}
            upload: UploadFile | None = None
            for name, value in form.multi_items():
                if isinstance(value, str):
                    fields.setdefault(name, []).append(value)
                elif name == "file":
                    upload = value
            if upload is None:
                raise bad_request("you must provide a file: a multipart field named 'file'", "file")
            path = folder / "upload"
            size = await asyncio.to_thread(_copy, upload.file, path)
        finally:
            await form.close()
        if size == 0:
            raise bad_request("the file is empty", "file", code="invalid_file")
        if size > limit:
            raise _too_large(limit)
        return fields, path

    async def _check_media(self, path: Path) -> float:
        """The upload's duration (s); 415 for what ffmpeg cannot read or that holds no audio,
        413 for audio longer than a live session may be."""
        try:
            info = await asyncio.to_thread(media.probe, path)
        except NoAudioStreamError:
            raise ApiError(http.HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the file holds no audio stream", param="file",
                           code="no_audio_stream") from None  # fmt: skip
        except MediaDecodeError:
            raise ApiError(http.HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the file is not audio or video ffmpeg can read",
                           param="file", code="unsupported_media") from None  # fmt: skip
        except FfmpegMissingError as e:
            raise ApiError(http.HTTPStatus.INTERNAL_SERVER_ERROR, str(e), "server_error") from None
        longest = self.config.max_session_s
        if info.duration_s > longest:
            raise ApiError(http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"audio over {longest:g} s", param="file",
                           code="audio_too_long")  # fmt: skip
        return info.duration_s

    async def _transcribe(
        self, slot: Slot, path: Path, speech: SpeechRequest, duration_s: float, request: Request
    ) -> Transcript | None:
        """The transcript, or ``None`` when the client disconnected first (the job is stopped)."""
        job = asyncio.create_task(self._job(slot, path, speech, duration_s))
        gone = asyncio.create_task(_disconnected(request.receive))
        try:
            await asyncio.wait({job, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not job.done():
                return None
            return job.result()
        finally:
            for task in (job, gone):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _job(
        self, slot: Slot, path: Path, speech: SpeechRequest, duration_s: float, on_words: Any = None
    ) -> Transcript:
        try:
            return await self.jobs.transcribe(slot, path, speech, on_words)
        except NoSpeechError:  # silence is an empty transcript, as the API gives it
            return Transcript(speech.language or "en", duration_s, self.server.engine.name, ())
        except MediaDecodeError as e:
            raise ApiError(
                http.HTTPStatus.UNSUPPORTED_MEDIA_TYPE, str(e), param="file", code="unsupported_media"
            ) from None
        except JobCancelledError:
            raise ApiError(http.HTTPStatus.SERVICE_UNAVAILABLE, "the server is stopping", "server_error") from None

    async def _events(
        self, slot: Slot, path: Path, speech: SpeechRequest, duration_s: float
    ) -> AsyncGenerator[str, None]:
        """Server-sent events: a ``transcript.text.delta`` per decoded window, then
        ``transcript.text.done`` with the whole text (an ``error`` event if the job fails), and
        a keepalive comment every :data:`KEEPALIVE_S` without news."""
        pending: list[str] = []
        wake = asyncio.Event()

        def on_words(words: list[Word]) -> None:
            pending.append("".join(w.text for w in words))
            wake.set()

        job = asyncio.create_task(self._job(slot, path, speech, duration_s, on_words))
        sent = ""
        try:
            while True:
                waiter = asyncio.create_task(wake.wait())
                await asyncio.wait({job, waiter}, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if not wake.is_set() and not job.done():
                    yield KEEPALIVE
                    continue
                wake.clear()
                text, pending[:] = "".join(pending), []
                if not sent:
                    text = text.lstrip()
                if text:
                    sent += text
                    yield delta_event(text)
                if job.done():
                    break
            try:
                transcript = job.result()
            except ApiError as e:
                yield error_event(e.body())
                return
            except Exception:
                log.exception("streamed speech request failed")
                failed = ApiError(http.HTTPStatus.INTERNAL_SERVER_ERROR, "internal error", "server_error")
                yield error_event(failed.body())
                return
            yield done_event(api_text(transcript))
        finally:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job


class _Cleanup:
    """What a request must give back however it ends: its job slot and its upload folder."""

    def __init__(self) -> None:
        self.slot: Slot | None = None
        self.folder: Path | None = None

    async def run(self) -> None:
        if self.slot is not None:
            self.slot.release()
            self.slot = None
        if self.folder is not None:
            folder, self.folder = self.folder, None
            await asyncio.to_thread(shutil.rmtree, folder, True)


class _EventStream(StreamingResponse):
    """A ``text/event-stream`` response that closes its generator and runs its
    :class:`_Cleanup` however the response ends (even when it never started: a client gone
    before the first byte)."""

    def __init__(self, events: AsyncGenerator[str, None], cleanup: _Cleanup) -> None:
        super().__init__(events, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})  # fmt: skip
        self._events = events
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with contextlib.suppress(Exception):
                await self._events.aclose()
            await self._cleanup.run()


def _copy(source: IO[bytes], target: Path) -> int:
    """Copy ``source`` from its start into ``target``; returns the bytes written."""
    source.seek(0)
    with target.open("wb") as out:
        shutil.copyfileobj(source, out, COPY_CHUNK)
        return out.tell()


async def _disconnected(receive: Receive) -> None:
    """Returns when the client has disconnected (after the body was read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _too_large(limit: int) -> ApiError:
    return ApiError(
        http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"upload over {limit / 1024 / 1024:g} MiB", param="file",
        code="file_too_large",
    )  # fmt: skip


def _error(e: ApiError) -> JSONResponse:
    retry = {"Retry-After": "1"} if e.status in (429, 503) else {}
    return JSONResponse(e.body(), status_code=e.status, headers=retry)
