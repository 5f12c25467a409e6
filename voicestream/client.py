"""A streaming client: send a media file to ``voicestream serve`` paced like a live source.

Used by ``voicestream stream`` and usable as a library::

    events = asyncio.run(stream_file("ws://127.0.0.1:8765", "talk.mp4", speed=1.0))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from voicestream import media
from voicestream.errors import ConnectError, StreamClosedError
from voicestream.server.protocol import SUBPROTOCOL
from voicestream.subtitles.growing import apply_revision
from voicestream.timebase import SAMPLE_RATE

EventHook = Callable[[dict[str, Any]], None]


async def stream_samples(
    url: str,
    samples: npt.NDArray[np.float32],
    *,
    speed: float = 1.0,
    token: str | None = None,
    language: str | None = None,
    task: str = "transcribe",
    frame_s: float = 0.1,
    on_event: EventHook | None = None,
    diarize: bool = False,
    export: tuple[str, ...] = (),
    translate_to: str | None = None,
    speak: str | None = None,
    voice: str | None = None,
    revise: bool = True,
    vocabulary: tuple[str, ...] = (),
    room: str | None = None,
) -> list[dict[str, Any]]:
    """Stream 16 kHz mono float32 ``samples`` (shape ``(n,)``) and collect every event.

    Args:
        url: ``ws://host:port``.
        speed: 1.0 paces frames at real time, 2.0 twice as fast; 0 sends as fast as
            the server accepts.
        token: Server token, sent as ``Authorization: Bearer``.
        frame_s: Seconds of audio per binary frame.
        on_event: Called with each event as it arrives.
        diarize: Ask for speaker labels (finals carry ``speaker``; ``speaker_update``
            events correct them at the end).
        export: Subtitle formats (``srt``, ``vtt``) the server sends before ``done``.
        translate_to: Ask for ``translation`` events in this language.
        speak: Ask for translated speech in this language: ``speech`` events, each with the
            ``audio`` (bytes, 16-bit PCM at its ``sample_rate``) of the binary frame after it.
        voice: The voice for ``speak`` (``engine`` or ``engine:name``; default: the server's best).
        revise: Whether the server may send ``revision`` events (utterances decoded again
            once they end; :func:`current_finals` applies them).
        vocabulary: Names and terms the server's decoder should expect.
        room: The caption room to publish to (viewers read it at ``/watch?room=...``).

    Returns:
        Events in arrival order, each with ``recv_s``: seconds since the first audio
        frame was sent.

    Raises:
        ConnectError: the server cannot be reached or refuses the handshake.
        StreamClosedError: the server closed the session with an error.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        ws = await connect(
            url, additional_headers=headers, subprotocols=[Subprotocol(SUBPROTOCOL)],
            compression=None, open_timeout=10, max_size=2**22,
        )  # fmt: skip
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as e:
        raise ConnectError(f"cannot connect to {url}: {e}") from None
    async with ws:
        start = {"type": "start", "sample_rate": SAMPLE_RATE, "encoding": "pcm_s16le", "channels": 1,
                 "language": language or "auto", "task": task}  # fmt: skip
        options: dict[str, Any] = ({"diarize": True} if diarize else {}) | ({} if revise else {"revise": False})
        if options:
            start["options"] = options
        if translate_to:
            start["translate_to"] = translate_to
        if speak:
            start["speak"] = {"to": speak, "voice": voice}
        if vocabulary:
            start["vocabulary"] = list(vocabulary)
        if room is not None:
            start["room"] = room
        events: list[dict[str, Any]] = []
        clock: list[float] = []
        receiver = asyncio.create_task(_receive(ws, events, clock, on_event))
        try:
            await ws.send(json.dumps(start))
            pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
            step = max(1, round(frame_s * SAMPLE_RATE))
            for k, i in enumerate(range(0, pcm.size, step)):
                if receiver.done():
                    break
                if not clock:
                    clock.append(time.monotonic())
                elif speed > 0:
                    await asyncio.sleep(max(0.0, clock[0] + k * frame_s / speed - time.monotonic()))
                await ws.send(pcm[i : i + step].tobytes())
            if not receiver.done():
                await ws.send(json.dumps({"type": "stop", "export": list(export)}))
            await receiver
        except ConnectionClosed:
            await receiver
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await receiver
        _raise_for_close(ws, events)
        return events


async def _receive(
    ws: ClientConnection, events: list[dict[str, Any]], clock: list[float], on_event: EventHook | None
) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            if isinstance(message, bytes):  # the audio of the speech event just before it
                speech = [e for e in events if e.get("type") == "speech"]
                if speech and "audio" not in speech[-1]:
                    speech[-1]["audio"] = message
                continue
            event = json.loads(message)
            event["recv_s"] = round(time.monotonic() - clock[0], 3) if clock else 0.0
            events.append(event)
            if on_event is not None:
                on_event(event)
            if event.get("type") == "done":
                return


def _raise_for_close(ws: ClientConnection, events: list[dict[str, Any]]) -> None:
    errors = [e for e in events if e.get("type") == "error"]
    if errors:
        raise StreamClosedError(f"server closed the session: {errors[-1]['code']} {errors[-1]['reason']}")
    if not any(e.get("type") == "done" for e in events):
        code = ws.close_code if ws.close_code is not None else "none"
        raise StreamClosedError(f"connection ended before done (close code {code} {ws.close_reason or ''})".strip())


async def stream_file(url: str, path: str | Path, **kwargs: Any) -> list[dict[str, Any]]:
    """Decode any media file (ffmpeg) and :func:`stream_samples` it."""
    return await stream_samples(url, media.decode(path), **kwargs)


def current_finals(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The finals a session ends with, in order: ``final`` events with each ``revision``
    applied (its ``finals`` take the place of the ids it ``replaces``)."""
    finals: list[dict[str, Any]] = []
    for event in events:
        if event.get("type") == "final":
            finals.append(event)
        elif event.get("type") == "revision":
            finals = apply_revision(finals, event)
    return finals
