"""Synthesis in a helper process speaks as the engines do in this one; failures are explained
and cost no more than the request."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import numpy as np
import pytest

from tests.procs import children, wait_gone
from voicestream.audio.stretch import stretch
from voicestream.errors import ModelError
from voicestream.helper import HelperProcess
from voicestream.registry import create_synthesizers
from voicestream.tts.base import Synthesizer, Voice
from voicestream.tts.remote import RemoteStretch, remote_synthesizers

pytestmark = pytest.mark.models  # runs real models (through the CLI or in-process)

SPANISH = "Hola a todos. Esta voz habla desde otro proceso, que el servidor puede detener."


@pytest.fixture(scope="module")
def local() -> list[Synthesizer]:
    return create_synthesizers(threads=1)


@pytest.fixture(scope="module")
def remote(local: list[Synthesizer]) -> Iterator[tuple[dict[str, Synthesizer], HelperProcess]]:
    synths, helper = remote_synthesizers(local, threads=1)
    yield {s.name: s for s in synths}, helper
    helper.close()


@pytest.mark.parametrize("engine", ["kokoro", "espeak"])
def test_the_helper_speaks_the_same_samples(
    engine: str, local: list[Synthesizer], remote: tuple[dict[str, Synthesizer], HelperProcess]
) -> None:
    here = next(s for s in local if s.name == engine)
    voice = here.voices("es")[0]
    assert remote[0][engine].voices("es") == here.voices("es")
    there = remote[0][engine].synthesize(SPANISH, voice)
    same = here.synthesize(SPANISH, voice)
    assert there.sample_rate == same.sample_rate and there.duration_s > 3.0
    np.testing.assert_array_equal(there.samples, same.samples)


def test_piper_in_the_helper(local: list[Synthesizer], remote: tuple[dict[str, Synthesizer], HelperProcess]) -> None:
    """Piper samples its noise, so the clips differ; their lengths stay close."""
    here = next(s for s in local if s.name == "piper")
    voice = here.voices("en")[0]
    text = "The quick brown fox jumps over the lazy dog, twice."
    there, same = remote[0]["piper"].synthesize(text, voice), here.synthesize(text, voice)
    assert there.sample_rate == same.sample_rate
    assert there.duration_s == pytest.approx(same.duration_s, rel=0.25)


def test_an_engine_error_is_explained_and_the_helper_stays(
    remote: tuple[dict[str, Synthesizer], HelperProcess],
) -> None:
    synths, helper = remote
    synths["espeak"].synthesize("hola", synths["espeak"].voices("es")[0])
    pid = helper.pid
    with pytest.raises(ModelError, match="xx-nope"):
        synths["espeak"].synthesize("hola", Voice("espeak", "xx-nope", "es"))
    with pytest.raises(ModelError, match="unknown Kokoro voice"):
        synths["kokoro"].synthesize("hola", Voice("kokoro", "nope", "es"))
    assert helper.pid == pid


def test_a_killed_helper_is_replaced(remote: tuple[dict[str, Synthesizer], HelperProcess]) -> None:
    synths, helper = remote
    voice = synths["kokoro"].voices("es")[0]
    before = synths["kokoro"].synthesize("Uno, dos, tres.", voice)
    killed = helper.pid
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    assert wait_gone(killed)
    after = synths["kokoro"].synthesize("Uno, dos, tres.", voice)
    np.testing.assert_array_equal(after.samples, before.samples)
    assert helper.pid not in (None, killed)


def test_the_helper_stretches_as_here_and_leads_its_own_process_group(
    local: list[Synthesizer], remote: tuple[dict[str, Synthesizer], HelperProcess]
) -> None:
    """Clips are sped up in the helper too (ffmpeg runs as its child, in its process group, so
    stopping the helper's group stops it): sample-identical to a stretch here."""
    synths, helper = remote
    voice = next(v for v in synths["kokoro"].voices("es"))
    speech = synths["kokoro"].synthesize(SPANISH, voice)
    there = RemoteStretch(helper)(speech.samples, speech.sample_rate, 1.3)
    here = stretch(speech.samples, speech.sample_rate, 1.3)
    assert there.size == here.size and np.array_equal(there, here)
    assert abs(there.size - speech.samples.size / 1.3) < 0.02 * there.size
    assert helper.pid is not None and os.getpgid(helper.pid) == helper.pid
    phonemizer = children(helper.pid)  # Kokoro's phonemizer helper runs inside the group
    assert phonemizer and all(os.getpgid(pid) == helper.pid for pid in phonemizer)
