"""The browser's own audio clean-up (echo cancellation, noise suppression, gain control) and
recognition: the same dev recording through Chromium's fake microphone into the real page,
once with the page's "Browser echo cancellation and noise suppression" switch off (the
default) and once on; WER of the captions against the reference, and the file job on the
same audio as the baseline, in one run.

    uv run python benchmarks/mic_cleanup.py --model base --utterances 6
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jiwer
import numpy as np
from whisper_normalizer.english import EnglishTextNormalizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import DATA, free_port, metrics

from voicestream import media, registry
from voicestream.pipeline import transcribe_samples

normalise = EnglishTextNormalizer()


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise(reference), normalise(hypothesis) or "-"))


def captions(port: int, wav: Path, duration_s: float, cleanup: bool) -> str:
    """What the page shows after playing ``wav`` through the fake microphone once."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=args)
        context = browser.new_context()
        context.grant_permissions(["microphone"])
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.click("summary")
        page.set_checked("#cleanup", cleanup)
        page.select_option("#language", "en")
        page.click("#mic")
        page.wait_for_selector("#status:has-text('Live: microphone')", timeout=30_000)
        time.sleep(duration_s - 2.0)  # stop in the trailing silence, before the file loops
        page.click("#stop")
        page.wait_for_selector("#status:has-text('Done')", timeout=120_000)
        text = page.inner_text("#captions")
        browser.close()
    return re.sub(r"\s+", " ", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="base")
    parser.add_argument("--utterances", type=int, default=6, help="v2_dev English utterances joined")
    args = parser.parse_args()
    rows = list(csv.DictReader((DATA / "v2_dev" / "asr_en.tsv").open(encoding="utf-8"), delimiter="\t"))
    rows = rows[:: max(1, len(rows) // args.utterances)][: args.utterances]
    gap = np.zeros(8000, np.float32)
    audio = np.concatenate([x for r in rows for x in (media.decode(DATA / "v2_dev" / r["file"]), gap)])
    audio = np.concatenate([audio, np.zeros(4 * 16000, np.float32)])
    reference = " ".join(r["reference"] for r in rows)
    folder = Path(tempfile.mkdtemp())
    raw = folder / "speech.f32"
    raw.write_bytes(audio.astype("<f4").tobytes())
    wav = folder / "speech.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "f32le", "-ar", "16000", "-ac", "1", "-i",
                    str(raw), "-ar", "48000", "-c:a", "pcm_s16le", str(wav)], check=True)  # fmt: skip
    duration = audio.size / 16000
    print(f"model {args.model}, {len(rows)} v2_dev utterances ({duration:.0f} s, {len(reference.split())} words) "
          "through Chromium's fake microphone, 2 cores", flush=True)  # fmt: skip
    engine = registry.create_asr_engine(args.model)
    file_text = " ".join(s.text for s in transcribe_samples(audio, engine, registry.create_vad()).segments)
    print(f"file job on the same audio: WER {wer(reference, file_text):.2%}", flush=True)
    del engine
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "voicestream", "serve", "--model", args.model, "--port", str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    while True:
        try:
            metrics(port)
            break
        except OSError:
            time.sleep(0.5)
    try:
        for cleanup in (False, True):
            text = captions(port, wav, duration, cleanup)
            label = "on " if cleanup else "off (default)"
            print(f"browser clean-up {label}: WER {wer(reference, text):.2%}", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
