"""The browser page: served by ``voicestream serve`` and driven in a real headless Chromium.

Chromium gets real speech through its fake microphone (``--use-file-for-fake-audio-capture``),
captures it with the page's AudioWorklet and streams it to a real server on loopback.
A screenshot of the captions is written to ``test-artifacts/web-captions.png``.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import pytest
from websockets.sync.client import connect

from tests.servers import RunningServer
from tests.subtitle_checks import parse_srt, parse_vtt, rule_violations
from tests.test_server import _norm
from voicestream import media
from voicestream.asr import FasterWhisperEngine
from voicestream.diarize.engine import PyannoteDiarizer
from voicestream.pipeline import transcribe_samples
from voicestream.server.web import default_web_root
from voicestream.vad import SileroVad

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WEB = default_web_root()


def get(url: str) -> tuple[int, Message, bytes]:
    """Status, headers (case-insensitive, as HTTP's are) and body of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.fixture(scope="module")
def page_server(base_engine: FasterWhisperEngine) -> Iterator[RunningServer]:
    server = RunningServer(base_engine, web_root=WEB, max_sessions=2, max_rate=0)
    yield server
    server.close()


def test_page_is_served_on_the_websocket_port(page_server: RunningServer) -> None:
    base = f"http://127.0.0.1:{page_server.port}"
    status, headers, body = get(base + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"<main>" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
    for name, kind in (
        ("/app.js", "text/javascript"),
        ("/pcm-worklet.js", "text/javascript"),
        ("/style.css", "text/css"),
    ):
        status, headers, _ = get(base + name)
        assert status == 200 and headers["Content-Type"].startswith(kind), name
    for bad in ("/nope.js", "/../pyproject.toml", "/%2e%2e/pyproject.toml", "//etc/passwd", "/index.html/.."):
        assert get(base + bad)[0] == 404, bad
    status, headers, body = get(base + "/info")
    info = json.loads(body)
    assert status == 200 and info["model"] == "base" and info["multilingual"] and "de" in info["languages"]
    assert info["tasks"] == ["transcribe", "translate"] and info["token_required"] is False
    routes = {(r["from"], r["to"]): r for r in info["translation_routes"]}  # README's Apertium pairs
    assert routes["en", "pt"]["route"] == "apertium:en-es-pt" and routes["en", "pt"]["chrf"] > 35
    assert {"pt", "fr", "es", "ca", "gl"} <= set(info["translate_to"]) and "pt" in info["room_translate_to"]
    with connect(page_server.url) as ws:  # the websocket still answers on the same port
        ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"


def test_subtitle_export_during_and_after_the_session(page_server: RunningServer, data: Path, tmp_path: Path) -> None:
    """``export`` and ``stop.export`` return the finals as SRT/WebVTT cut by the CLI's rules."""
    speech = media.decode(data / "jfk_public_domain" / "jfk.flac")
    pcm = (np.clip(speech, -1, 1) * 32767).astype("<i2").tobytes()
    events: list[dict[str, Any]] = []
    with connect(page_server.url) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        for i in range(0, len(pcm), 32000):
            ws.send(pcm[i : i + 32000])
        ws.send(json.dumps({"type": "export", "format": "vtt"}))
        ws.send(json.dumps({"type": "stop", "export": ["srt", "vtt"]}))
        while (event := json.loads(ws.recv(timeout=120)))["type"] != "done":
            events.append(event)
    exports = [e for e in events if e["type"] == "subtitles"]
    assert [e["format"] for e in exports] == ["vtt", "srt", "vtt"]
    assert exports[0]["text"].startswith("WEBVTT")
    srt_path, vtt_path = tmp_path / "s.srt", tmp_path / "s.vtt"
    srt_path.write_text(exports[1]["text"])
    vtt_path.write_text(exports[2]["text"])
    duration = speech.size / 16000
    for cues in (parse_srt(srt_path), parse_vtt(vtt_path)):
        assert cues and rule_violations(cues, duration) == []
        assert "ask not what your country can do for you" in _norm(" ".join(" ".join(c.lines) for c in cues))
    with connect(page_server.url) as ws:  # bad export requests are refused like any bad message
        ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "export", "format": "docx"}))
        assert json.loads(ws.recv(timeout=10))["code"] == 4400


# --- the page in Chromium -------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech_wav(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    """Three read-speech clips joined and 4 s of silence, as the 48 kHz mono WAV Chromium's fake
    microphone plays (and loops: the test stops inside the silence, before the loop restarts)."""
    import csv

    rows = list(csv.DictReader((data / "read_speech_en" / "refs.tsv").open(encoding="utf-8"), delimiter="\t"))[:3]
    gap = np.zeros(8000, np.float32)
    audio = np.concatenate([x for r in rows for x in (media.decode(data / "read_speech_en" / r["file"]), gap)])
    audio = np.concatenate([audio, np.zeros(4 * 16000, np.float32)])
    raw = tmp_path_factory.mktemp("web") / "speech.f32"
    raw.write_bytes(audio.astype("<f4").tobytes())
    wav = raw.with_suffix(".wav")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "f32le", "-ar", "16000", "-ac", "1", "-i", str(raw),
         "-ar", "48000", "-c:a", "pcm_s16le", str(wav)],
        check=True,
    )  # fmt: skip
    return wav, " ".join(r["reference"] for r in rows), audio.size / 16000


@pytest.fixture(scope="module")
def browser(speech_wav: tuple[Path, str, float], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (apt-get install chromium; .ci/run does)")
    args = [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={speech_wav[0]}",
        "--autoplay-policy=no-user-gesture-required",
    ]  # fmt: skip
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield b
        b.close()


def open_page(browser: Any, server: RunningServer, width: int = 1100) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    context.grant_permissions(["microphone"])
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{server.port}/")
    return page


@pytest.mark.slow
def test_microphone_captions_match_the_file_transcription(
    browser: Any,
    page_server: RunningServer,
    speech_wav: tuple[Path, str, float],
    base_engine: FasterWhisperEngine,
    vad: SileroVad,
    tmp_path: Path,
) -> None:
    wav, reference, duration = speech_wav
    page = open_page(browser, page_server)
    page.click("#mic")
    page.wait_for_selector("#status:has-text('Live: microphone')", timeout=20_000)
    time.sleep(duration - 2.0)  # real time; stop in the trailing silence, before the file loops
    page.click("#stop")
    page.wait_for_selector("#status:has-text('Done')", timeout=60_000)
    captions = page.inner_text("#captions")
    sent_s = float(re.search(r"Done: ([0-9.]+) s of audio", page.inner_text("#status")).group(1))  # type: ignore[union-attr]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-captions.png"), full_page=True)

    file_text = " ".join(s.text for s in transcribe_samples(media.decode(wav), base_engine, vad).segments)
    page_wer = jiwer.wer(_norm(reference), _norm(captions))
    file_wer = jiwer.wer(_norm(reference), _norm(file_text))
    print(f"browser captions WER {page_wer:.2%}, file WER {file_wer:.2%}\n{captions}")
    assert page_wer <= file_wer + 0.10  # 41 words: streaming may differ from the file job by a few
    assert page.locator("#captions p").count() == 1  # one speaker: one paragraph that its finals extend

    with page.expect_download() as info:
        page.click("#srt")
    srt_path = tmp_path / "captions.srt"
    info.value.save_as(srt_path)
    with page.expect_download() as info:
        page.click("#vtt")
    vtt_path = tmp_path / "captions.vtt"
    info.value.save_as(vtt_path)
    for cues in (parse_srt(srt_path), parse_vtt(vtt_path)):
        assert cues and rule_violations(cues, sent_s) == []
        assert jiwer.wer(_norm(captions), _norm(" ".join(" ".join(c.lines) for c in cues))) < 0.05
    assert page.get_attribute("#captions", "aria-live") == "polite"


def test_a_shared_tab_is_captioned(
    browser: Any, page_server: RunningServer, speech_wav: tuple[Path, str, float]
) -> None:
    """ "Caption a tab or screen": Chromium's fake capture (the flags above) gives the shared
    surface a sound track playing the speech file; its captions are the speech's."""
    _, reference, duration = speech_wav
    page = open_page(browser, page_server)
    assert page.is_visible("#tab")
    page.click("#tab")
    page.wait_for_selector("#status:has-text('Live: shared tab')", timeout=20_000)
    time.sleep(duration - 2.0)  # real time, as the microphone test
    page.click("#stop")
    page.wait_for_selector("#status:has-text('Done')", timeout=60_000)
    captions = page.inner_text("#captions")
    print(f"shared tab captions WER {jiwer.wer(_norm(reference), _norm(captions)):.2%}: {captions}")
    assert jiwer.wer(_norm(reference), _norm(captions)) <= 0.25


def test_a_local_file_streams_instead_of_the_microphone(browser: Any, page_server: RunningServer) -> None:
    """The file picker decodes the file in the browser and streams it in real time until it ends."""
    page = open_page(browser, page_server)
    page.set_input_files("#file", str(REPO / "examples" / "jfk.flac"))
    page.wait_for_selector("#status:has-text('Live: jfk.flac')", timeout=20_000)
    page.wait_for_selector("#status:has-text('Done')", timeout=60_000)  # stops by itself at the end
    assert "ask not what your country can do for you" in _norm(page.inner_text("#captions"))
    assert not page.is_visible("#error")


def test_wrong_token_full_server_and_stopped_server_are_explained(
    browser: Any, tiny_engine: FasterWhisperEngine, data: Path
) -> None:
    server = RunningServer(tiny_engine, web_root=WEB, token="s3cret", max_sessions=1)
    try:
        page = open_page(browser, server, width=380)  # a phone-width screen
        page.click("#mic")
        page.wait_for_selector("#error:has-text('refused the token')", timeout=20_000)
        page.wait_for_selector("#reconnect", state="visible", timeout=5_000)  # the error event comes before the close
        assert page.evaluate("document.documentElement.scrollWidth") <= 380  # nothing sticks out sideways
        # settings follow GET /info: tiny.en is English-only, so no translation and no other language
        assert page.is_disabled("#task option[value=translate]")
        assert page.eval_on_selector_all("#language option", "os => os.map(o => o.value)") == ["auto", "en"]
        assert "needs a token" in (page.get_attribute("#token", "placeholder") or "")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-phone-error.png"), full_page=True)

        page.click("summary")
        page.fill("#token", "s3cret")
        with connect(server.url, additional_headers={"Authorization": "Bearer s3cret"}) as other:
            other.send(json.dumps({"type": "start", "sample_rate": 16000}))
            assert json.loads(other.recv(timeout=10))["type"] == "ready"
            page.click("#reconnect")
            page.wait_for_selector("#error:has-text('server is full')", timeout=20_000)

        page.click("#reconnect")
        page.wait_for_selector("#status:has-text('Live: microphone')", timeout=20_000)
        assert not page.is_visible("#error")
        server.call(server.http.stop())
        page.wait_for_selector("#error:has-text('connection to the server was lost')", timeout=20_000)
        page.wait_for_selector("#reconnect", state="visible", timeout=5_000)
    finally:
        server.loop.call_soon_threadsafe(server.loop.stop)
        server.thread.join(10)


def test_a_denied_microphone_is_explained(browser: Any, page_server: RunningServer) -> None:
    """The browser's refusal (here scripted: the fake-device flags always allow) gets a plain message."""
    context = browser.new_context()
    context.add_init_script(
        "navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('denied', 'NotAllowedError'));"
    )
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{page_server.port}/")
    page.click("#mic")
    page.wait_for_selector("#error:has-text('Microphone access was denied')", timeout=20_000)
    assert page.is_enabled("#mic") and page.is_visible("#reconnect")
    context.close()


def test_page_is_keyboard_accessible(browser: Any, page_server: RunningServer) -> None:
    """Every control has a name and Tab reaches the start controls first."""
    page = open_page(browser, page_server)
    for selector in ("#mic", "#stop", "#srt", "#vtt", "#language", "#task", "#token", "#server", "#file"):
        name = page.evaluate(
            "(s) => { const e = document.querySelector(s); return (e.labels && e.labels[0] && e.labels[0].textContent)"
            " || e.getAttribute('aria-label') || e.textContent; }",
            selector,
        )
        assert name and name.strip(), selector
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "mic"
    assert page.get_attribute("#captions", "role") == "log"


@pytest.mark.slow
def test_speaker_labels_on_the_page(
    browser: Any, base_engine: FasterWhisperEngine, diarizer: PyannoteDiarizer, data: Path
) -> None:
    """A server with --diarize: the page offers speaker labels, shows them per turn, and
    redraws the captions with the second pass's corrections after stop."""
    from voicestream.diarize.live import DiarizationModels

    server = RunningServer(base_engine, DiarizationModels(diarizer), web_root=WEB, max_sessions=1, max_rate=0)
    try:
        page = open_page(browser, server)
        page.wait_for_selector("#diarize-row:not([hidden])", state="attached", timeout=10_000)
        assert page.is_checked("#diarize")
        page.set_input_files("#file", str(data / "diar_pyannote_sample_2spk" / "sample.wav"))
        page.wait_for_selector("#status:has-text('Done')", timeout=90_000)
        labels = page.locator("#captions .speaker").all_inner_texts()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-speakers.png"), full_page=True)
        assert set(labels) == {"Speaker 1:", "Speaker 2:"}, labels
        assert all(a != b for a, b in itertools.pairwise(labels))  # a label only where the speaker changes
        assert "jersey" in page.inner_text("#captions").lower() and not page.is_visible("#error")
    finally:
        server.close()


def test_translated_captions_on_the_page(browser: Any, page_server: RunningServer) -> None:
    """The page lists the server's translation targets; each sentence gets its translation under it."""
    page = open_page(browser, page_server)
    page.wait_for_selector("#translate-row:not([hidden])", state="attached", timeout=10_000)
    page.click("summary")  # open the settings
    page.select_option("#language", "en")
    page.select_option("#translate-to", "es")
    page.set_input_files("#file", str(REPO / "examples" / "jfk.flac"))
    page.wait_for_selector("#status:has-text('Done')", timeout=60_000)
    page.wait_for_selector("#captions .translation", timeout=10_000)
    spanish = " ".join(page.locator("#captions .translation").all_inner_texts())
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-translation.png"), full_page=True)
    assert "país" in spanish and page.get_attribute("#captions .translation", "lang") == "es"
    assert not page.is_visible("#error")


@pytest.mark.slow
def test_the_page_plays_the_translated_speech(browser: Any, page_server: RunningServer) -> None:
    """ "Listen to the translation": the page asks for speech, schedules every clip it gets
    gaplessly in order on its own AudioContext and marks the caption being spoken."""
    page = open_page(browser, page_server)
    page.wait_for_selector("#listen-row:not([hidden])", state="attached", timeout=10_000)
    page.click("summary")
    page.select_option("#language", "en")
    page.select_option("#translate-to", "es")
    page.check("#listen")
    assert page.is_visible("#original-volume") and page.is_visible("#dub-volume")
    page.set_input_files("#file", str(REPO / "examples" / "jfk.flac"))
    page.wait_for_selector("#status:has-text('Done')", timeout=90_000)
    page.wait_for_function("window.voicestreamSpeech.scheduled.length >= 2", timeout=30_000)
    scheduled = page.evaluate("window.voicestreamSpeech.scheduled")
    for a, b in itertools.pairwise(scheduled):
        assert a["at"] + a["duration"] <= b["at"] + 1e-6, (a, b)  # in order, never overlapping
    assert all(s["duration"] > 0.3 for s in scheduled)
    page.wait_for_function("window.voicestreamSpeech.spoken.length >= 1", timeout=30_000)
    spoken = page.evaluate("window.voicestreamSpeech.spoken")
    assert spoken[0] == scheduled[0]["segment"]
    assert not page.is_visible("#error")
