"""The OpenAI-style speech-to-text HTTP API, driven by the official ``openai`` client against
a real server on loopback with real recordings."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
import sacrebleu
import soundfile
import srt
import webvtt

from tests.servers import RunningServer
from tests.test_vocabulary import NAMES
from tests.test_wer import wer
from voicestream import media
from voicestream.asr import FasterWhisperEngine
from voicestream.client import stream_samples

pytestmark = pytest.mark.models

TOKEN = "api-s3cret"
LIMIT = 1024 * 1024
LATE_S = 3.5


class TimedFileWindows:
    """``engine`` (the same object's answers) noting how long each file-job window took:
    the file job decodes with beam search, live updates and revisions greedily."""

    def __init__(self, engine: FasterWhisperEngine) -> None:
        self._engine = engine
        self.file_windows_s: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def transcribe(self, *args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return self._engine.transcribe(*args, **kwargs)
        finally:
            options = args[2] if len(args) > 2 else kwargs["options"]
            if options.beam_size > 1:
                self.file_windows_s.append(time.monotonic() - start)


@pytest.fixture(scope="module")
def api_server(tiny_engine: FasterWhisperEngine) -> Iterator[RunningServer]:
    """tiny.en with a token, 1 MiB uploads and one file job at a time."""
    server = RunningServer(tiny_engine, token=TOKEN, max_upload_bytes=LIMIT, file_jobs=1)
    yield server
    server.close()


def client(server: RunningServer, key: str = TOKEN) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key=key, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def jfk(data: Path) -> tuple[Path, str]:
    return data / "jfk_public_domain" / "jfk.flac", (data / "jfk_public_domain" / "jfk.txt").read_text()


@pytest.fixture(scope="module")
def jfk_wav(jfk: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """JFK as 16 kHz 16-bit WAV (352 kB: under the 1 MiB limit; the FLAC is 1.1 MB)."""
    path = tmp_path_factory.mktemp("api") / "jfk.wav"
    soundfile.write(path, media.decode(jfk[0]), 16000, subtype="PCM_16")
    return path


def test_models_are_listed(api_server: RunningServer) -> None:
    ids = [m.id for m in client(api_server).models.list()]
    assert ids == ["tiny.en", "whisper-1"]
    assert client(api_server).models.retrieve("whisper-1").owned_by == "voicestream"
    with pytest.raises(openai.NotFoundError):
        client(api_server).models.retrieve("gpt-4o-transcribe")


def test_json_and_text(api_server: RunningServer, jfk_wav: Path, jfk: tuple[Path, str]) -> None:
    with jfk_wav.open("rb") as f:
        result = client(api_server).audio.transcriptions.create(model="tiny.en", file=f)
    assert wer([jfk[1]], [result.text]) < 0.1, result.text
    text = client(api_server).audio.transcriptions.create(model="whisper-1", file=jfk_wav, response_format="text")
    assert isinstance(text, str) and text.strip() == result.text


def test_subtitle_formats_parse(api_server: RunningServer, jfk_wav: Path, jfk: tuple[Path, str]) -> None:
    """SRT and VTT come back with the cue rules of ``transcribe``, and parse with the
    libraries the project writes them with."""
    api = client(api_server).audio.transcriptions
    cues = list(srt.parse(api.create(model="tiny.en", file=jfk_wav, response_format="srt")))
    vtt = webvtt.from_string(api.create(model="tiny.en", file=jfk_wav, response_format="vtt"))
    assert len(cues) >= 2 and len(vtt.captions) == len(cues)
    assert all(c.end > c.start for c in cues) and all(a.end <= b.start for a, b in itertools.pairwise(cues))
    assert cues[-1].end.total_seconds() <= 11.1
    for text in (" ".join(c.content for c in cues), " ".join(c.text for c in vtt.captions)):
        assert wer([jfk[1]], [text]) < 0.1, text
    assert all(len(line) <= 42 for c in cues for line in c.content.splitlines())


def test_verbose_json_has_segments_and_timed_words(api_server: RunningServer, jfk_wav: Path) -> None:
    result = client(api_server).audio.transcriptions.create(
        model="tiny.en", file=jfk_wav, response_format="verbose_json", timestamp_granularities=["word", "segment"]
    )
    assert result.language == "english" and abs(result.duration - 11.0) < 0.1
    assert result.words and result.segments
    words = result.words
    assert " ".join(w.word for w in words) == result.text
    assert all(w.start <= w.end for w in words) and all(a.end <= b.start + 1e-3 for a, b in itertools.pairwise(words))
    assert 0.0 <= words[0].start < 1.0 and 9.0 < words[-1].end <= 11.0
    country = next(w for w in words if w.word.strip(",.").lower() == "country")
    assert 5.0 < country.start < 9.0  # "ask not what your country can do for you" comes mid-clip
    assert " ".join(s.text.strip() for s in result.segments) == result.text
    assert [s.id for s in result.segments] == list(range(len(result.segments)))


def test_streamed_text_arrives_in_deltas(api_server: RunningServer, data: Path) -> None:
    """``stream=true``: deltas as windows are decoded, then the done event with the same text
    as the plain request gives."""
    path = data / "long_form" / "librispeech_concat_4spk.wav"
    clip = io.BytesIO()
    soundfile.write(clip, media.decode(path)[: 16000 * 30], 16000, format="FLAC")
    audio = clip.getvalue()
    api = client(api_server).audio.transcriptions
    events = list(api.create(model="tiny.en", file=("talk.flac", audio), stream=True))
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    assert events[-1].type == "transcript.text.done" and len(deltas) >= 2
    assert "".join(deltas) == events[-1].text
    assert events[-1].text == api.create(model="tiny.en", file=("talk.flac", audio)).text


def test_the_prompt_reaches_the_decoder(api_server: RunningServer, data: Path) -> None:
    """Names in ``prompt`` are written as spelled there (tiny.en writes "what's out of my car"
    for Zau al Makan and "Nuzad Alzaman" without; "Helstone" it misses through the file
    pipeline's VAD windows either way, as ``transcribe --hotwords`` does)."""
    folder = data / "v2_dev" / "asr_en" / "librispeech_test-other"
    api = client(api_server).audio.transcriptions
    for name in ("2033-164914-0005.flac", "2033-164914-0008.flac"):
        audio = next(folder.rglob(name)).read_bytes()
        alone = api.create(model="tiny.en", file=(name, audio)).text
        helped = api.create(model="tiny.en", file=(name, audio), prompt=NAMES[name]).text
        assert NAMES[name] not in alone and NAMES[name] in helped, (alone, helped)


def test_silence_and_noise_give_empty_text_even_with_a_prompt(api_server: RunningServer) -> None:
    rng = np.random.default_rng(1)
    for samples in (np.zeros(16000 * 4, np.float32), (rng.standard_normal(16000 * 6) * 0.05).astype(np.float32)):
        clip = io.BytesIO()
        soundfile.write(clip, samples, 16000, format="WAV")
        for prompt in (None, "Kowloon, Qiao, EBITDA"):
            transcriptions, file = client(api_server).audio.transcriptions, ("quiet.wav", clip.getvalue())
            if prompt:
                result = transcriptions.create(model="tiny.en", file=file, prompt=prompt)
            else:
                result = transcriptions.create(model="tiny.en", file=file)
            assert result.text == "", (prompt, result.text)


def test_each_error_has_the_api_shape(api_server: RunningServer, jfk_wav: Path, jfk: tuple[Path, str]) -> None:
    api = client(api_server).audio.transcriptions
    with pytest.raises(openai.AuthenticationError) as auth:
        client(api_server, key="wrong").audio.transcriptions.create(model="tiny.en", file=jfk_wav)
    assert auth.value.code == "invalid_api_key" and auth.value.status_code == 401
    with pytest.raises(openai.NotFoundError) as model:
        api.create(model="large-v9", file=jfk_wav)
    assert model.value.code == "model_not_found" and model.value.param == "model"
    with pytest.raises(openai.BadRequestError) as language:
        api.create(model="tiny.en", file=jfk_wav, language="xx")
    assert language.value.param == "language"
    with pytest.raises(openai.BadRequestError) as english_only:
        client(api_server).audio.translations.create(model="tiny.en", file=jfk_wav)
    assert "English-only" in english_only.value.message
    with pytest.raises(openai.BadRequestError):
        api.create(model="tiny.en", file=jfk_wav, response_format="srt", stream=True)
    with pytest.raises(openai.APIStatusError) as too_large:  # the FLAC is 1.1 MB, the limit 1 MiB
        api.create(model="tiny.en", file=jfk[0])
    assert too_large.value.status_code == 413 and too_large.value.code == "file_too_large"
    with pytest.raises(openai.APIStatusError) as not_media:
        api.create(model="tiny.en", file=("notes.txt", b"these are not sounds\n" * 50, "text/plain"))
    assert not_media.value.status_code == 415 and not_media.value.code == "unsupported_media"
    with pytest.raises(openai.BadRequestError) as empty:
        api.create(model="tiny.en", file=("empty.wav", b""))
    assert empty.value.code == "invalid_file"
    # without the client: no file, and a body that is not a form
    url = f"http://127.0.0.1:{api_server.port}/v1/audio/transcriptions"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    bad = [
        (b"--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ntiny.en\r\n--b--\r\n",
         "multipart/form-data; boundary=b", 400, "file"),
        (json.dumps({"model": "tiny.en"}).encode(), "application/json", 415, None),
    ]  # fmt: skip
    for body, kind, status, param in bad:
        request = urllib.request.Request(url, body, {**headers, "Content-Type": kind}, method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(request, timeout=30)
        assert e.value.code == status
        error = json.loads(e.value.read())["error"]
        assert error["message"] and error["type"] == "invalid_request_error" and error["param"] == param
    # the server still works
    assert wer([jfk[1]], [api.create(model="tiny.en", file=jfk_wav).text]) < 0.1


def test_a_second_file_job_is_told_to_wait(api_server: RunningServer, data: Path, jfk_wav: Path) -> None:
    """One file job at a time: a second upload meanwhile gets 429 (and the openai client's
    own retries would take it once the first is done)."""
    path = data / "long_form" / "librispeech_concat_4spk.wav"
    clip = io.BytesIO()
    soundfile.write(clip, media.decode(path)[: 16000 * 40], 16000, format="FLAC")
    stream = client(api_server).audio.transcriptions.create(
        model="tiny.en", file=("long.flac", clip.getvalue()), stream=True
    )
    first = next(iter(stream))  # the job is running
    assert first.type == "transcript.text.delta"
    with pytest.raises(openai.RateLimitError) as busy:
        client(api_server).audio.transcriptions.create(model="tiny.en", file=jfk_wav)
    assert busy.value.code == "rate_limit_exceeded" and busy.value.response.headers["retry-after"] == "1"
    assert list(stream)[-1].type == "transcript.text.done"
    client(api_server).audio.transcriptions.create(model="tiny.en", file=jfk_wav)  # free again


def test_a_server_without_file_jobs_says_so(tiny_engine: FasterWhisperEngine, jfk_wav: Path) -> None:
    server = RunningServer(tiny_engine, file_jobs=0)
    try:
        with pytest.raises(openai.InternalServerError) as e:
            client(server).audio.transcriptions.create(model="tiny.en", file=jfk_wav)
        assert e.value.status_code == 503 and "--file-jobs 0" in e.value.message
    finally:
        server.close()


@pytest.mark.slow
def test_translations_give_english(base_engine: FasterWhisperEngine, data: Path) -> None:
    """``/v1/audio/translations`` with base: German and Spanish speech come back in English
    (chrF against the reference translation), transcriptions of the same in their language."""
    server = RunningServer(base_engine)
    try:
        rows = [line.split("\t") for line in (data / "non_english" / "refs.tsv").read_text().splitlines()[1:]]
        for file, lang, _, english, *_ in (r for r in rows if r[1] in ("de", "es")):
            path = data / "non_english" / file
            result = client(server).audio.translations.create(model="base", file=path, response_format="verbose_json")
            assert result.language == "english"
            assert sacrebleu.sentence_chrf(result.text, [english]).score > 35, (lang, result.text)
            spoken = client(server).audio.transcriptions.create(model="base", file=path, response_format="verbose_json")
            assert spoken.language == {"de": "german", "es": "spanish"}[lang]
            assert sacrebleu.sentence_chrf(spoken.text, [english]).score < 30, spoken.text  # not English
    finally:
        server.close()


def test_the_api_needs_the_same_origin_as_the_websocket(api_server: RunningServer, jfk_wav: Path) -> None:
    url = f"http://127.0.0.1:{api_server.port}/v1/models"
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.example"}
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=30)
    assert e.value.code == 403 and json.loads(e.value.read())["error"]["code"] == "origin_not_allowed"


@pytest.mark.slow
def test_an_upload_does_not_starve_live_sessions(tiny_engine: FasterWhisperEngine, data: Path) -> None:
    """A recording of 87 s uploaded while two live sessions stream at real time, all on one
    inference worker: the upload is transcribed right (WER against the reference) and the
    live sessions keep their captions: no final of words spoken during the upload comes
    later than LATE_S after them plus the longest file window's decode, the one piece of
    file work a live update may wait for (the file's windows take turns with the live
    updates: measured 2.1 s at most when written; the file job as one piece of work on the
    worker, tried once, made a final 5.5 s late; on a slower hour finals were 3.6 s and
    6.6 s late, behind file windows that took longer to decode)."""
    folder = data / "long_form"
    audio = media.decode(folder / "librispeech_concat_4spk.wav")
    rows = [line.split("\t") for line in (folder / "librispeech_concat_4spk.segments.tsv").read_text().splitlines()[1:]]
    flac = io.BytesIO()
    soundfile.write(flac, audio, 16000, format="FLAC")
    engine = TimedFileWindows(tiny_engine)
    server = RunningServer(engine, max_sessions=2, max_rate=0, workers=1)
    try:
        window: list[float] = []
        texts: list[str] = []

        def upload() -> None:
            time.sleep(3.0)
            window.append(time.monotonic())
            api = client(server).audio.transcriptions
            texts.append(api.create(model="tiny.en", file=("talk.flac", flac.getvalue())).text)
            window.append(time.monotonic())

        async def live() -> list[list[dict[str, Any]]]:
            clips = [audio[: 16000 * 40], audio[16000 * 45 : 16000 * 85]]
            return list(await asyncio.gather(*(stream_samples(server.url, c, speed=1.0) for c in clips)))

        thread = threading.Thread(target=upload)
        started = time.monotonic()
        thread.start()
        sessions = asyncio.run(live())
        thread.join()
    finally:
        server.close()
    assert wer([" ".join(r[4] for r in rows)], texts) < 0.15, texts
    a, b = window[0] - started, window[1] - started
    assert b - a > 3.0  # the upload really overlapped the live audio
    for events in sessions:
        assert events[-1]["type"] == "done"
        during = [(e["recv_s"], e["recv_s"] - e["words"][-1]["end"]) for e in events
                  if e["type"] == "final" and e["words"] and a <= e["words"][-1]["end"] <= b]  # fmt: skip
        assert during, "no final while the upload ran"
        longest = max(engine.file_windows_s)
        assert max(late for _, late in during) < LATE_S + longest, (a, b, during, engine.file_windows_s)
        print("finals late during the upload", [round(late, 2) for _, late in during], "file windows",
              [round(w, 2) for w in engine.file_windows_s])  # fmt: skip


def _uploads() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("voicestream-upload-*")}


def _until(condition: Any, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_uploads_are_bounded_as_they_arrive_and_left_clean(
    api_server: RunningServer, data: Path, jfk_wav: Path, tmp_path: Path
) -> None:
    """A chunked upload (no Content-Length) is cut at the limit while it arrives; clients that
    leave mid-job (streamed or not) free the job slot and leave no upload folder behind."""
    before = _uploads()
    url = f"http://127.0.0.1:{api_server.port}/v1/audio/transcriptions"
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def chunks() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n\r\n'
        for _ in range(40):
            yield b"\0" * 64 * 1024
        yield b"\r\n--b--\r\n"

    chunked = urllib.request.Request(
        url, chunks(), {**headers, "Content-Type": "multipart/form-data; boundary=b"}, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as cut:  # urllib sends an iterable chunked
        urllib.request.urlopen(chunked, timeout=60)
    assert cut.value.code == 413 and json.loads(cut.value.read())["error"]["code"] == "file_too_large"

    long_wav = tmp_path / "long.wav"  # 5.8 min of speech: tiny.en takes far longer than the waits below
    soundfile.write(long_wav, np.tile(media.decode(data / "long_form" / "librispeech_concat_4spk.wav"), 4), 16000)
    opus = tmp_path / "long.ogg"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(long_wav), "-c:a", "libopus", "-b:a", "16k",
                    str(opus)], check=True)  # fmt: skip
    clip = io.BytesIO(opus.read_bytes())
    assert len(clip.getvalue()) < LIMIT
    jobs = api_server.server.file_jobs
    stream = client(api_server).audio.transcriptions.create(
        model="tiny.en", file=("long.ogg", clip.getvalue()), stream=True
    )
    assert next(iter(stream)).type == "transcript.text.delta"
    stream.close()  # the client leaves mid-stream: its job stops at its next window
    assert _until(lambda: jobs.running == 0 and _uploads() <= before, 8.0), (jobs.running, _uploads() - before)
    boundary = "vsb"
    form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\ntiny.en\r\n--{boundary}\r\n'
        'Content-Disposition: form-data; name="file"; filename="long.ogg"\r\n\r\n'
    ).encode()
    form += clip.getvalue() + f"\r\n--{boundary}--\r\n".encode()
    plain = urllib.request.Request(
        url, form, {**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}, method="POST"
    )
    with pytest.raises((TimeoutError, urllib.error.URLError)):  # a plain request whose client gives up
        urllib.request.urlopen(plain, timeout=3.0)
    assert _until(lambda: jobs.running == 0 and _uploads() <= before, 8.0), (jobs.running, _uploads() - before)
    assert client(api_server).audio.transcriptions.create(model="tiny.en", file=jfk_wav).text
