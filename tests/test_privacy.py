"""Nothing leaves the machine unless the user asked (docs/reliability.md, privacy).

The commands users run (``transcribe`` with speakers and translation, ``dub``, ``serve``
with a live session that has speaker labels and speech, ``stream``) run under both layers
of the network audit (``tests/network.py``: a Python recorder and a system-call trace) and
must make no attempt to reach anything but this machine. Controls show the audit can fail:
asking for a hub model does try the network, and so does pyannote when the user turns its
telemetry back on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.network import NetworkAudit
from tests.servers import serve_process
from voicestream import privacy

pytestmark = pytest.mark.models  # runs real models (through the CLI or in-process)

SWITCH_VARIABLES = [s.variable for s in privacy.SWITCHES]


def _env_without_switches(audit: NetworkAudit, **extra: str) -> dict[str, str]:
    """This environment with every switch unset (as on a user's machine), plus ``extra``."""
    env = audit.env({k: v for k, v in os.environ.items() if k not in SWITCH_VARIABLES})
    env.update(extra)
    return env


def _run(audit: NetworkAudit, args: list[str], timeout: float = 600, **extra: str) -> subprocess.CompletedProcess[str]:
    """``voicestream ARGS`` under both audit layers, with the switches unset beforehand."""
    return subprocess.run(
        audit.argv([sys.executable, "-m", "voicestream", *args]), env=_env_without_switches(audit, **extra),
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _assert_no_attempts(audit: NetworkAudit) -> None:
    assert audit.traced_programs() > 0, "the system-call trace saw no program start: it did not run"
    found = audit.attempts()
    assert not found, "outbound network attempts:\n" + "\n".join(map(str, found[:20]))


def test_switches_are_off_in_process() -> None:
    """Importing voicestream turned every switch off, as the packages themselves read them."""
    from huggingface_hub import constants
    from pyannote.audio.telemetry.metrics import is_metrics_enabled

    assert all(state.off for state in privacy.states()), privacy.states()
    assert not is_metrics_enabled()
    assert constants.HF_HUB_DISABLE_TELEMETRY


def test_apply_keeps_what_the_user_set() -> None:
    env = {"PYANNOTE_METRICS_ENABLED": "true", "DO_NOT_TRACK": "0"}
    privacy.apply(env)
    assert env["PYANNOTE_METRICS_ENABLED"] == "true" and env["DO_NOT_TRACK"] == "0"
    assert {k: env[k] for k in SWITCH_VARIABLES if k not in ("PYANNOTE_METRICS_ENABLED", "DO_NOT_TRACK")} == {
        s.variable: s.off for s in privacy.SWITCHES if s.variable not in ("PYANNOTE_METRICS_ENABLED", "DO_NOT_TRACK")
    }
    privacy.apply(env)  # idempotent
    assert env["PYANNOTE_METRICS_ENABLED"] == "true"


def test_doctor_lists_each_switch_and_who_set_it(tmp_path: Path) -> None:
    audit = NetworkAudit(tmp_path)
    env = _env_without_switches(audit, PYANNOTE_METRICS_ENABLED="true")
    proc = subprocess.run(
        [sys.executable, "-m", "voicestream", "doctor"], env=env, capture_output=True, text=True, timeout=120
    )
    lines = {line.split()[0].split("=")[0]: line for line in proc.stdout.splitlines() if "=" in line.split()[0]}
    for switch in privacy.SWITCHES:
        line = lines[switch.variable]
        if switch.variable == "PYANNOTE_METRICS_ENABLED":
            assert "PYANNOTE_METRICS_ENABLED=true" in line and " ON " in line and "set by you" in line
        else:
            assert f"{switch.variable}={switch.off}" in line and " off " in line and "set by voicestream" in line
    assert not audit.attempts()


@pytest.mark.slow
def test_transcribe_with_speakers_and_translation_stays_on_the_machine(data: Path, tmp_path: Path) -> None:
    audit = NetworkAudit(tmp_path / "audit")
    out = tmp_path / "sample.json"
    proc = _run(audit, ["transcribe", str(data / "diar_pyannote_sample_2spk" / "sample.wav"), "-o", str(out),
                        "--model", "tiny.en", "--diarize", "--translate-to", "es", "--no-progress"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    segments = doc["segments"]
    assert len({s["speaker"] for s in segments}) == 2
    assert all(s.get("translation") for s in segments if s["text"].strip())
    _assert_no_attempts(audit)


@pytest.mark.slow
def test_dub_stays_on_the_machine(data: Path, tmp_path: Path) -> None:
    audit = NetworkAudit(tmp_path / "audit")
    out = tmp_path / "jfk.es.m4a"
    proc = _run(audit, ["dub", str(data / "jfk_public_domain" / "jfk.flac"), "--to", "es", "-o", str(out),
                        "--model", "tiny.en", "--cache-dir", str(tmp_path / "cache"), "--no-progress"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 10_000
    _assert_no_attempts(audit)


@pytest.mark.slow
def test_live_session_with_speakers_and_speech_stays_on_the_machine(data: Path, tmp_path: Path) -> None:
    """``serve --diarize`` and a ``stream`` client asking for speaker labels and Spanish speech,
    both audited."""
    audit = NetworkAudit(tmp_path / "audit")
    events = tmp_path / "events.jsonl"
    speech = tmp_path / "speech.wav"
    with serve_process("--diarize", "--max-rate", "0", audit=audit) as (_, url):
        proc = _run(audit, ["stream", str(data / "diar_pyannote_sample_2spk" / "sample.wav"), "--url", url,
                            "--speed", "0", "--diarize", "--speak", "es", "-o", str(events),
                            "--save-audio", str(speech)])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    assert got[-1]["type"] == "done"
    finals = [e for e in got if e["type"] == "final"]
    assert len({e.get("speaker") for e in finals if e.get("speaker") is not None}) >= 2
    assert any(e["type"] == "speech" for e in got)
    assert speech.stat().st_size > 10_000
    _assert_no_attempts(audit)


@pytest.mark.network("asks for a hub model by name (tiny, 75 MB when online), to show the audit sees the attempt")
def test_a_hub_model_does_try_the_network(data: Path, tmp_path: Path) -> None:
    """The control: a model that must come from the hub is looked up (both layers see it)
    and, offline, fails at once with one line."""
    audit = NetworkAudit(tmp_path / "audit")
    proc = _run(audit, ["transcribe", str(data / "jfk_public_domain" / "jfk.flac"), "-o", str(tmp_path / "x.srt"),
                        "--model", "tiny", "--no-progress"], timeout=300, HF_HOME=str(tmp_path / "hf"))  # fmt: skip
    found = audit.attempts()
    assert any(a.layer == "python" and "huggingface.co" in a.host for a in found), found
    assert any(a.layer == "syscall" for a in found), found
    if proc.returncode != 0:  # offline, as here: a model error in one line, no traceback
        assert proc.returncode == 6, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.network("turns pyannote's and onnxruntime's telemetry back on, to show the switches are what stop it")
@pytest.mark.slow
def test_telemetry_the_user_turns_on_is_attempted(data: Path, tmp_path: Path) -> None:
    """With the user's own values (voicestream keeps them) pyannote reports from Python and
    onnxruntime from native code, which only the system-call layer sees."""
    audit = NetworkAudit(tmp_path / "audit")
    proc = _run(audit, ["transcribe", str(data / "jfk_public_domain" / "jfk.flac"), "-o", str(tmp_path / "x.json"),
                        "--model", "tiny.en", "--diarize", "--no-progress"],
                PYANNOTE_METRICS_ENABLED="true", ORT_DISABLE_TELEMETRY="0")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    found = audit.attempts()
    python = [a for a in found if a.layer == "python"]
    assert python and all("pyannote" in a.host for a in python), python
    lookups = [a for a in found if a.layer == "syscall" and a.port == 53]
    assert lookups, found  # DNS packets per Python look-up vary (6 and 6 in one CI run): no count is asserted
