"""espeak-ng phonemes come from a helper process: the same phonemes Piper makes itself, never
the C library in the caller's process, a crashed helper replaced, bad voices explained."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.procs import wait_gone
from voicestream.errors import ModelError
from voicestream.tts.phonemes import EspeakPhonemizer
from voicestream.tts.piper import EMBEDDED, PiperSynthesizer

TEXTS = {
    "en-us": "Hello there. This is a test, isn't it? Yes: 42 tests!",
    "es": "Hola, amigos. ¿Qué tal estáis hoy? Muy bien, gracias.",
    "fr": "Bonjour à tous. Il fera beau demain.",
}


@pytest.fixture
def phonemizer() -> Iterator[EspeakPhonemizer]:
    helper = EspeakPhonemizer()
    yield helper
    helper.close()


def test_the_helper_gives_piper_its_own_phonemes(phonemizer: EspeakPhonemizer) -> None:
    model = PiperSynthesizer()._load(EMBEDDED)
    text = TEXTS["en-us"]
    got = phonemizer.phonemize(model.config.espeak_voice, text, model.config.vowel_clusters or ())
    assert got == model.phonemize(text)  # Piper's in-process phonemizer, for reference only
    assert len(got) == 3  # one list per sentence


def test_synthesis_never_loads_espeak_into_the_calling_process() -> None:
    script = (
        "import sys\n"
        "from voicestream.tts.kokoro import KokoroSynthesizer\n"
        "from voicestream.tts.piper import PiperSynthesizer\n"
        "p = PiperSynthesizer(); k = KokoroSynthesizer(threads=1)\n"
        "assert p.synthesize('Hello.', p.voices('en')[0]).duration_s > 0.2\n"
        "assert k.synthesize('Hola.', k.voices('es')[0]).duration_s > 0.2\n"
        "print('piper.espeakbridge' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "False"


def test_a_crashed_helper_is_replaced(phonemizer: EspeakPhonemizer) -> None:
    before = phonemizer.phonemize("es", TEXTS["es"])
    crashed = phonemizer.helper.pid
    assert crashed is not None
    os.kill(crashed, signal.SIGSEGV)
    assert wait_gone(crashed)
    assert phonemizer.phonemize("es", TEXTS["es"]) == before
    assert phonemizer.helper.pid not in (None, crashed)


def test_an_unknown_voice_is_explained_and_the_helper_stays(phonemizer: EspeakPhonemizer) -> None:
    phonemizer.phonemize("fr", TEXTS["fr"])
    pid = phonemizer.helper.pid
    assert pid is not None
    with pytest.raises(ModelError, match="xx-nope"):
        phonemizer.phonemize("xx-nope", "hello")
    assert phonemizer.phonemize("fr", TEXTS["fr"])
    assert phonemizer.helper.pid == pid


def test_requests_from_many_threads_never_mix_voices(phonemizer: EspeakPhonemizer) -> None:
    expected = {voice: phonemizer.phonemize(voice, text) for voice, text in TEXTS.items()}
    assert expected["es"] != expected["en-us"]
    mismatches: list[str] = []

    def work(voice: str) -> None:
        for _ in range(60):
            if phonemizer.phonemize(voice, TEXTS[voice]) != expected[voice]:
                mismatches.append(voice)

    threads = [threading.Thread(target=work, args=(v,)) for v in (*TEXTS, *TEXTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not mismatches


def test_the_helper_is_replaced_after_its_request_budget(
    phonemizer: EspeakPhonemizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(phonemizer.helper, "max_requests", 3)
    pids = []
    for _ in range(6):
        phonemizer.phonemize("es", TEXTS["es"])
        pids.append(phonemizer.helper.pid)
    assert len(set(pids[:3])) == 1 and len(set(pids[3:])) == 1 and pids[0] != pids[3]
