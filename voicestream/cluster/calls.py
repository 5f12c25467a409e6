"""Calls to a Ray Serve deployment that outlive its replicas: a call whose replica died, or
that found none up, is sent again (to a live or restarted replica) for a while."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from voicestream.errors import ModelError

log = logging.getLogger(__name__)

RETRY_FOR_S = 120.0
"""How long a call is sent again while replicas die or restart (a restart loads the model)."""


def call(handle: Any, method: str, args: tuple[Any, ...], what: str, retry_for_s: float,
         retried: Callable[[], None] | None = None) -> Any:  # fmt: skip
    """``handle.method.remote(*args).result()``, sent again while replicas fail it.

    Blocks the calling thread (a worker thread, never the event loop).

    Args:
        what: The replicas' kind, for messages (``ASR``, ``speaker``).
        retried: Called each time the call is sent again.

    Raises:
        ModelError: no replica answered for ``retry_for_s``.
    """
    from ray.exceptions import ActorUnavailableError, RayActorError
    from ray.serve.exceptions import DeploymentUnavailableError, ReplicaUnavailableError

    retryable = (RayActorError, ActorUnavailableError, ReplicaUnavailableError, DeploymentUnavailableError)
    deadline = time.monotonic() + retry_for_s
    while True:
        try:
            return getattr(handle, method).remote(*args).result()
        except retryable as e:
            if time.monotonic() > deadline:
                raise ModelError(f"no {what} replica answered for {retry_for_s:.0f} s: {e}") from e
            if retried is not None:
                retried()
            log.warning("%s replica failed a call (%s); sending it again", what, type(e).__name__)
            time.sleep(0.2)
