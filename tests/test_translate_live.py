"""Live translation: finished sentences become translation events, over the websocket."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import RunningServer
from voicestream import media
from voicestream.asr import FasterWhisperEngine
from voicestream.client import stream_samples
from voicestream.errors import StreamClosedError
from voicestream.live import events as ev
from voicestream.live.translation import SentenceCollector
from voicestream.messages import Word
from voicestream.server import protocol as p


def words(text: str, start: float = 0.0) -> tuple[Word, ...]:
    return tuple(Word(start + i * 0.3, start + i * 0.3 + 0.2, " " + t, 0.9) for i, t in enumerate(text.split(" ")))


def test_sentences_finish_at_sentence_ends_long_pauses_and_the_end() -> None:
    c = SentenceCollector(max_gap_s=2.0, max_words=40)
    assert c.add(0, words("And so my")) == []
    done = c.add(0, words("fellow Americans. Ask not", 1.0))
    assert [" ".join(w.text.strip() for w in s.words) for s in done] == ["And so my fellow Americans."]
    assert c.add(1, words("what your country can do for you,", 2.5)) == []  # a short pause: same sentence
    late = c.add(2, words("ask what", 10.0))  # 5 s later: the unfinished sentence is closed
    assert [(s.segment, len(s.words)) for s in late] == [(1, 9)]
    assert [(s.segment, len(s.words)) for s in c.flush()] == [(2, 2)]
    assert c.flush() == []
    long = SentenceCollector(max_words=5)
    assert [len(s.words) for s in long.add(0, words("one two three four five six seven"))] == [5]


def test_a_sentence_never_spans_two_speakers() -> None:
    """Speech is voiced per speaker: an unpunctuated turn ends where the next speaker starts."""
    c = SentenceCollector()
    a = tuple(dataclasses.replace(w, speaker="Speaker 1") for w in words("so what do you think"))
    b = tuple(dataclasses.replace(w, speaker="Speaker 2") for w in words("I think it works.", 1.6))
    done = c.add(0, a) + c.add(1, b)
    assert [({w.speaker for w in s.words}, len(s.words)) for s in done] == [({"Speaker 1"}, 5), ({"Speaker 2"}, 4)]


def test_translate_to_is_parsed_and_translation_events_encoded() -> None:
    start = p.parse_client_message(json.dumps({"type": "start", "sample_rate": 16000, "translate_to": "es"}))
    assert isinstance(start, p.StartMessage) and start.options.translate_to == "es"
    with pytest.raises(p.ProtocolError):
        p.parse_client_message(json.dumps({"type": "start", "sample_rate": 16000, "translate_to": 5}))
    doc = json.loads(p.encode_event(ev.TranslationEvent(3, 1.0, 2.5, "Hello there.", "Hola allí.", "es", "en")))
    assert doc == {"type": "translation", "segment": 3, "start": 1.0, "end": 2.5, "source_text": "Hello there.",
                   "text": "Hola allí.", "language": "es", "source_language": "en"}  # fmt: skip
    labelled = ev.TranslationEvent(3, 1.0, 2.5, "Hi.", "Hola.", "es", "en", speaker="Speaker 2")
    assert json.loads(p.encode_event(labelled))["speaker"] == "Speaker 2"


@pytest.fixture(scope="module")
def server(base_engine: FasterWhisperEngine) -> Iterator[RunningServer]:
    running = RunningServer(base_engine, max_rate=0, max_sessions=2)
    yield running
    running.close()


def stream(server: RunningServer, path: Path, **start: Any) -> list[dict[str, Any]]:
    samples = media.decode(path)

    async def run() -> list[dict[str, Any]]:
        from websockets.asyncio.client import connect

        events: list[dict[str, Any]] = []
        async with connect(server.url) as ws:
            await ws.send(json.dumps({"type": "start", "sample_rate": 16000, "encoding": "f32le", **start}))
            pcm = samples.astype("<f4")
            for i in range(0, pcm.size, 1600):
                await ws.send(pcm[i : i + 1600].tobytes())
            await ws.send(json.dumps({"type": "stop"}))
            async for message in ws:
                events.append(json.loads(message))
        return events

    return asyncio.run(run())


def test_unsupported_pairs_are_refused_or_reported(server: RunningServer, data: Path) -> None:
    samples = media.decode(data / "jfk_public_domain" / "jfk.flac")
    with pytest.raises(StreamClosedError, match="4400 the installed translators cannot translate en->de"):
        asyncio.run(stream_samples(server.url, samples[:16000], speed=0, language="en", translate_to="de"))
    events = stream(server, data / "jfk_public_domain" / "jfk.flac", translate_to="de")  # language detected later
    errors = [e for e in events if e["type"] == "translation" and "error" in e]
    assert len(errors) == 1 and "cannot translate en->de" in errors[0]["error"]
    assert events[-1]["type"] == "done"
