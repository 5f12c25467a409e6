"""The room pages in real Chromium: the OBS overlay over a transparent background, and the
watch page in Spanish, while a publisher streams real speech into the room."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.servers import RunningServer
from tests.test_web import ARTIFACTS, CHROMIUM, WEB
from voicestream import media
from voicestream.asr import FasterWhisperEngine
from voicestream.client import stream_samples

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def room_page_server(tiny_engine: FasterWhisperEngine) -> Iterator[RunningServer]:
    server = RunningServer(tiny_engine, web_root=WEB, max_rate=0)
    yield server
    server.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (apt-get install chromium; .ci/run does)")
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield browser
        browser.close()


def _publish(server: RunningServer, samples: np.ndarray, room: str) -> threading.Thread:
    def run() -> None:
        asyncio.run(stream_samples(server.url, samples, speed=1.0, room=room))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_overlay_draws_captions_over_nothing(chromium: Any, room_page_server: RunningServer, data: Path) -> None:
    """``/overlay`` as OBS's browser source loads it: the captions' glyphs are drawn, and
    every pixel outside the caption lines is fully transparent."""
    page = chromium.new_page(viewport={"width": 960, "height": 540})
    page.goto(f"http://127.0.0.1:{room_page_server.port}/overlay?room=obs&lines=2&size=28&background=transparent")
    publisher = _publish(room_page_server, media.decode(data / "jfk_public_domain" / "jfk.flac"), "obs")
    page.wait_for_selector("#overlay p", timeout=30_000)
    publisher.join(60)  # the overlay redraws on every event: measured once the speech is over
    assert not publisher.is_alive()
    page.wait_for_timeout(500)  # the room's last events reach the page (25 ms p50 in benchmarks/rooms.py)
    shot = Image.open(io.BytesIO(page.screenshot(omit_background=True))).convert("RGBA")
    boxes = page.eval_on_selector_all(  # every line's box in one look
        "#overlay p",
        "ps => ps.map(p => { const r = p.getBoundingClientRect(); "
        "return {x: r.x, y: r.y, width: r.width, height: r.height}; })",
    )
    assert boxes
    ARTIFACTS.mkdir(exist_ok=True)
    shot.save(ARTIFACTS / "overlay.png")
    alpha = np.asarray(shot)[:, :, 3]
    inside = np.zeros(alpha.shape, bool)
    for box in boxes:
        x0, y0 = int(box["x"]) - 2, int(box["y"]) - 2
        inside[max(0, y0) : int(box["y"] + box["height"]) + 2, max(0, x0) : int(box["x"] + box["width"]) + 2] = True
    assert (alpha[inside] > 0).sum() > 200  # the glyphs
    assert (alpha[~inside] == 0).all()  # nothing else: no page background, no controls
    assert inside.mean() < 0.25 and boxes[-1]["y"] > 540 / 2  # a band at the bottom


def test_the_watch_page_reads_in_spanish(chromium: Any, room_page_server: RunningServer, data: Path) -> None:
    """A reader opens ``/watch?room=...&lang=es``: the sentences appear in Spanish (Apertium),
    and the language picker offers the room's targets."""
    page = chromium.new_page()
    page.goto(f"http://127.0.0.1:{room_page_server.port}/watch?room=talk&lang=es")
    page.wait_for_selector("#status:has-text('Waiting for the speaker')", timeout=15_000)
    publisher = _publish(room_page_server, media.decode(data / "jfk_public_domain" / "jfk.flac"), "talk")
    page.wait_for_selector("#status:has-text('The talk has ended')", timeout=60_000)
    text = page.inner_text("#captions").lower()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "watch-es.png"))
    assert "país" in text or "pais" in text, text  # "ask not what your country can do for you"
    assert "country" not in text
    assert "es" in page.eval_on_selector("#language", "s => [...s.options].map(o => o.value)")
    page.select_option("#language", "")  # back to the words as spoken
    assert "country" in page.inner_text("#captions").lower()
    publisher.join(60)
