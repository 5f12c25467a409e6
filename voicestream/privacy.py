"""The telemetry and phone-home switches of voicestream's dependencies, turned off.

:func:`apply` runs when the ``voicestream`` package is imported (``voicestream/__init__.py``),
so before any of its modules imports an engine: every path to faster-whisper, pyannote.audio,
huggingface_hub or a TTS engine goes through the package first, the CLI and the helper
processes included. A switch the user set in the environment is left as it is, whatever its
value; ``voicestream doctor`` lists each switch and its state.

Network access otherwise happens only where the user asked for it: a hub model or pipeline
by name, a URL to dub, a remote engine.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass

_TRUE = frozenset({"1", "ON", "YES", "TRUE"})


def _true(value: str) -> bool:
    return value.strip().upper() in _TRUE


def _false(value: str) -> bool:
    return value.strip().upper() in {"0", "OFF", "NO", "FALSE"}


@dataclass(frozen=True, slots=True)
class Switch:
    """One dependency's off switch, an environment variable.

    Attributes:
        variable: The variable the dependency reads.
        off: The value voicestream sets when the user set none.
        package: The distribution that reads it.
        stops: What turning it off stops.
        is_off: Whether a value of ``variable`` means off (as the package reads it).
    """

    variable: str
    off: str
    package: str
    stops: str
    is_off: Callable[[str], bool]


SWITCHES: tuple[Switch, ...] = (
    Switch(
        "PYANNOTE_METRICS_ENABLED", "false", "pyannote.audio",
        "OpenTelemetry spans to otel.pyannote.ai on each model and pipeline start and each file diarized",
        lambda v: v.strip().lower() not in ("true", "1"),
    ),
    Switch(
        "ORT_DISABLE_TELEMETRY", "1", "onnxruntime",
        "usage events of its native 1DS client to mobile.events.data.microsoft.com on each session start"
        " (measured here: 6 DNS look-ups per diarized file; 1 or true turns it off, 0 or false on)", _true,
    ),
    Switch(
        "HF_HUB_DISABLE_TELEMETRY", "1", "huggingface-hub",
        "usage reports to the Hugging Face hub (library and version in requests, telemetry pings)", _true,
    ),
    Switch(
        "HF_XET_TELEMETRY_ENABLED", "false", "hf-xet",
        "transfer telemetry of the Xet download client to the Hugging Face hub", _false,
    ),
    Switch(
        "HF_HUB_DISABLE_UPDATE_CHECK", "1", "huggingface-hub",
        "update checks against PyPI and the hub", _true,
    ),
    Switch(
        "RAY_USAGE_STATS_ENABLED", "0", "ray (transcribe --ray)",
        "the cluster's usage report to usage-stats.ray.io (its dashboard still asks the cloud metadata"
        " addresses 169.254.169.254 and metadata.google.internal which cloud it runs on, whatever this says)",
        lambda v: v.strip() == "0",
    ),
    Switch(
        "DO_NOT_TRACK", "1", "any (donottrack.sh)",
        "analytics of every tool that honours the Console Do Not Track convention (hf-xet, huggingface-hub)", _true,
    ),
)  # fmt: skip
"""Every switch voicestream knows of, read from the installed packages (docs/reliability.md, privacy)."""


@dataclass(frozen=True, slots=True)
class SwitchState:
    """A switch's value in this process and who set it."""

    switch: Switch
    value: str | None
    by_user: bool

    @property
    def off(self) -> bool:
        """Whether the dependency reads this value as off."""
        return self.value is not None and self.switch.is_off(self.value)


_user_set: dict[str, str] = {}
"""Switches the user had set before :func:`apply` first ran, with their values."""
_applied: list[bool] = []


def apply(environ: MutableMapping[str, str] | None = None) -> None:
    """Turn off every switch of :data:`SWITCHES` that is not set in ``environ`` (default:
    this process's environment, inherited by its child processes); idempotent."""
    env = os.environ if environ is None else environ
    first = environ is None and not _applied
    for switch in SWITCHES:
        if switch.variable in env:
            if first:
                _user_set[switch.variable] = env[switch.variable]
            continue
        env[switch.variable] = switch.off
    if environ is None:
        _applied.append(True)
        _sync_loaded_hub()
        _sync_loaded_onnxruntime()


def _sync_loaded_onnxruntime() -> None:
    """onnxruntime may read its switch when its native environment starts: when a program
    imported it before voicestream, its events are turned off through its API too."""
    ort = sys.modules.get("onnxruntime")
    disable = getattr(ort, "disable_telemetry_events", None)
    if disable is not None and "ORT_DISABLE_TELEMETRY" not in _user_set:
        disable()


def _sync_loaded_hub() -> None:
    """huggingface_hub reads its switch once, at import: when a program imported it before
    voicestream, its constant is turned off too (unless the user set the variable)."""
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and "HF_HUB_DISABLE_TELEMETRY" not in _user_set:
        constants.HF_HUB_DISABLE_TELEMETRY = True  # type: ignore[attr-defined]


def states() -> list[SwitchState]:
    """Each switch with its value in this process's environment, and whether the user set it
    (before voicestream was imported) rather than voicestream."""
    return [SwitchState(s, os.environ.get(s.variable), s.variable in _user_set) for s in SWITCHES]
