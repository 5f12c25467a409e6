"""A quick "can the model hub be reached" check (hub clients retry for half a minute offline)."""

from __future__ import annotations

import socket
import urllib.parse


def hub_host() -> str:
    """Host name of the Hugging Face endpoint in use (``$HF_ENDPOINT`` or huggingface.co)."""
    from huggingface_hub import constants  # the hub client: only for models named by hub id

    return urllib.parse.urlsplit(constants.ENDPOINT).hostname or "huggingface.co"


def reachable(host: str, port: int = 443) -> bool:
    """Whether ``host`` resolves (a DNS look-up only: fast, and enough to tell offline)."""
    try:
        socket.getaddrinfo(host, port)
    except OSError:
        return False
    return True
