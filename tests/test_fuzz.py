"""Property-based fuzzing (hypothesis) of the wire protocol, the audio path and media inputs.

CI runs a bounded number of cases; ``VOICESTREAM_FUZZ_FULL=1`` runs the full set (over
10,000 generated cases: 4,000 control messages, 4,000 audio frames, 2,000 live sessions
and 300 damaged files)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import _check_ffmpeg_call
from tests.servers import RunningServer
from voicestream import media
from voicestream.asr import FasterWhisperEngine
from voicestream.cli import main
from voicestream.errors import VoicestreamError
from voicestream.server import protocol as p

FULL = os.environ.get("VOICESTREAM_FUZZ_FULL") == "1"
CASES = {"control": 4000 if FULL else 400, "audio": 4000 if FULL else 400, "live": 2000 if FULL else 60,
         "files": 300 if FULL else 12}  # fmt: skip
DOCUMENTED = {
    p.CLOSE_TOO_BIG, p.CLOSE_BAD_MESSAGE, p.CLOSE_STATE, p.CLOSE_BAD_AUDIO, p.CLOSE_RATE, p.CLOSE_IDLE,
    p.CLOSE_SESSION_TOO_LONG, p.CLOSE_NORMAL,
}  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ["type", "sample_rate", "encoding", "channels", "language", "task", "partials", "diarize", "num_speakers",
          "max_speakers", "translate_to", "export", "format"]  # fmt: skip
TYPES = ["start", "stop", "keepalive", "export", "jump", ""]
truncated_json = st.builds(
    lambda s, n: s[:n], st.builds(json.dumps, st.dictionaries(st.sampled_from(FIELDS), json_values)), st.integers(0, 60)
)
messages = st.one_of(
    st.text(max_size=200),
    st.builds(json.dumps, json_values),
    st.builds(
        lambda t, extra: json.dumps({"type": t, **extra}),
        st.sampled_from(TYPES),
        st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
    ),
    truncated_json,
)


@settings(max_examples=CASES["control"], deadline=None)
@given(messages)
def test_control_messages_parse_or_fail_with_a_documented_code(text: str) -> None:
    try:
        p.parse_client_message(text)
    except p.ProtocolError as e:
        assert e.code in (p.CLOSE_BAD_MESSAGE, p.CLOSE_BAD_AUDIO), e
        assert e.reason and len(e.reason.encode()) <= 123  # fits a close frame


formats = st.builds(
    p.AudioFormat,
    sample_rate=st.sampled_from([8000, 16000, 44100, 48000]),
    encoding=st.sampled_from(["pcm_s16le", "f32le"]),
    channels=st.integers(1, 2),
)
special = st.sampled_from([np.nan, np.inf, -np.inf, 1e38, -1e38, 0.0, 1.0])


@settings(max_examples=CASES["audio"], deadline=None)
@given(formats, st.binary(max_size=4096), st.lists(special, max_size=4))
def test_audio_frames_decode_or_fail_with_a_documented_code(fmt: p.AudioFormat, data: bytes, odd: list[float]) -> None:
    if odd and fmt.encoding == "f32le":
        data += np.array(odd, "<f4").tobytes()
    try:
        out = p.decode_audio_frame(data, fmt)
    except p.ProtocolError as e:
        assert e.code == p.CLOSE_BAD_AUDIO, e
        return
    assert out.dtype == np.float32 and np.isfinite(out).all() and np.abs(out).max(initial=0) <= 1.0


@pytest.fixture(scope="module")
def fuzz_server(tiny_engine: FasterWhisperEngine) -> Iterator[RunningServer]:
    server = RunningServer(tiny_engine, max_sessions=4, idle_timeout_s=0.5, max_audio_frame=8192,
                           max_control_frame=1024, max_rate=50.0, rate_burst_s=1.0)  # fmt: skip
    yield server
    server.close()


frames = st.one_of(messages, st.binary(max_size=10000), st.just(json.dumps({"type": "start", "sample_rate": 16000})),
                   st.just(json.dumps({"type": "stop"})))  # fmt: skip


@settings(max_examples=CASES["live"], deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(frames, min_size=1, max_size=6))
def test_live_sessions_close_with_a_documented_code_within_a_second(
    fuzz_server: RunningServer, sequence: list[str | bytes]
) -> None:
    """Any sequence of frames: the server answers or closes with a documented code, within 1 s
    of the last frame (0.5 s idle limit here), and keeps serving."""
    with connect(fuzz_server.url, open_timeout=10, close_timeout=2) as ws:
        try:
            for frame in sequence:
                ws.send(frame)
        except ConnectionClosed:
            pass
        sent = time.monotonic()
        try:
            while True:
                ws.recv(timeout=5)
        except ConnectionClosed as e:
            closed = time.monotonic() - sent
            code = e.rcvd.code if e.rcvd is not None else None
        except TimeoutError:
            raise AssertionError("the server kept a bad session open") from None
    assert code in DOCUMENTED, code
    waited_for_flush = isinstance(sequence[-1], str) and '"stop"' in sequence[-1]
    assert closed <= 1.0 or (code == p.CLOSE_NORMAL and waited_for_flush), closed


def _damaged(source: Path, out: Path, how: str, seed: int) -> Path:
    blob = bytearray(source.read_bytes())
    rng = np.random.default_rng(seed)
    if how == "truncate":
        blob = blob[: int(rng.integers(0, max(1, len(blob))))]
    elif how == "flip":
        for i in rng.integers(0, len(blob), size=64):
            blob[int(i)] ^= 0xFF
    elif how == "header":
        blob[: min(64, len(blob))] = rng.integers(0, 256, size=min(64, len(blob)), dtype=np.uint8).tobytes()
    else:
        blob = bytearray(rng.integers(0, 256, size=int(rng.integers(0, 4096)), dtype=np.uint8).tobytes())
    out.write_bytes(bytes(blob))
    return out


def _sources(data: Path, tmp: Path) -> dict[str, Path]:
    webm = tmp / "clip.webm"
    if not webm.exists():
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(data / "jfk_public_domain" / "jfk.flac"),
                        "-t", "3", "-c:a", "libopus", str(webm)], check=True)  # fmt: skip
    return {
        "wav": data / "read_speech_en" / "sense_and_sensibility_01_austen_64kb-0880.wav",
        "flac": data / "read_speech_en" / "1089-134691-0000.flac",
        "mp4": data / "video_auto_editor" / "example.mp4",
        "webm": webm,
    }


@settings(max_examples=CASES["files"], deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["wav", "flac", "mp4", "webm"]), st.sampled_from(["truncate", "flip", "header", "noise"]),
       st.integers(0, 2**31))  # fmt: skip
def test_damaged_files_decode_or_fail_cleanly(
    data: Path, tmp_path_factory: Any, kind: str, how: str, seed: int
) -> None:
    tmp = tmp_path_factory.getbasetemp()
    path = _damaged(_sources(data, tmp)[kind], tmp / f"damaged-{kind}-{how}.{kind}", how, seed)
    try:
        samples = media.decode(path)
    except VoicestreamError as e:
        assert e.exit_code in (4, 5), e
        return
    assert samples.dtype == np.float32 and np.isfinite(samples).all()


NAMES = ["with space.wav", "quote'\"s.wav", "semi;colon.wav", "$(touch pwned).wav", "-leading-dash.wav",
         "ünïcødé 日本語.wav", "back`tick`.wav"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_hostile_file_names_are_just_names(data: Path, tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    path = tmp_path / name
    path.write_bytes((data / "read_speech_en" / "1089-134691-0000.flac").read_bytes())
    assert main(["transcribe", str(path), "-m", "tiny.en", "-o", str(tmp_path / "out.srt"), "--no-progress"]) == 0
    assert "longer" in (tmp_path / "out.srt").read_text().lower()
    assert not (tmp_path / "pwned").exists()
    bad = tmp_path / ("broken " + name)
    bad.write_bytes(b"\x00not media at all" * 10)
    assert main(["transcribe", str(bad), "-m", "tiny.en", "--no-progress"]) == 4
    assert main(["dub", str(bad), "--to", "es", "--no-progress"]) == 4
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err


def test_the_ffmpeg_audit_rejects_unsafe_calls() -> None:
    """The audit itself fails on a shell string, a missing -nostdin, a URL or concat input."""
    _check_ffmpeg_call(["ffmpeg", "-nostdin", "-protocol_whitelist", "file", "-i", "file:/x.wav", "out.wav"])
    for bad in (
        "ffmpeg -i x.wav out.wav",
        ["ffmpeg", "-protocol_whitelist", "file", "-i", "file:/x.wav", "o.wav"],
        ["ffmpeg", "-nostdin", "-protocol_whitelist", "file,http", "-i", "file:/x", "o.wav"],
        ["ffmpeg", "-nostdin", "-protocol_whitelist", "file", "-i", "http://x/a.m3u8", "o.wav"],
        ["ffmpeg", "-nostdin", "-protocol_whitelist", "file", "-f", "concat", "-i", "list.txt", "o.wav"],
    ):
        with pytest.raises(AssertionError):
            _check_ffmpeg_call(bad)
