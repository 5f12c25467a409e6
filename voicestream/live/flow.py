"""Which of a session's new events reach a consumer that may be behind. Sans-I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from voicestream.live.events import PartialEvent

E = TypeVar("E")


def coalesce(events: Sequence[E], backed_up: bool) -> list[E]:
    """``events`` (in order) without the partials a consumer does not need: only the newest
    partial of a batch matters, and none while the consumer is ``backed_up``. Finals and
    every other event always pass."""
    last = max((i for i, e in enumerate(events) if isinstance(e, PartialEvent)), default=-1)
    return [e for i, e in enumerate(events) if not isinstance(e, PartialEvent) or (i == last and not backed_up)]
