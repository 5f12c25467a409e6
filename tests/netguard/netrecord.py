"""Record every outbound network attempt a Python process makes, as JSON lines in a file.

``install(path)`` wraps the name look-ups (``socket.getaddrinfo``, ``gethostbyname``,
``gethostbyname_ex``) and the socket calls that reach a peer (``connect``, ``connect_ex``,
``sendto`` and ``sendmsg`` with an address). Each attempt at something that is not this
machine appends one line ``{"pid", "argv", "call", "host", "port", "stack"}`` to ``path``
and then goes ahead unchanged: the recorder watches, it does not block. Loopback
(127.0.0.0/8, ::1, ``localhost``), the unspecified address and Unix sockets are not
attempts. Processes started with this folder on ``PYTHONPATH`` and ``$VOICESTREAM_NET_LOG``
set install it at start-up through ``sitecustomize``; code in native libraries that opens
sockets itself is outside its view (``tests/network.py`` adds a system-call trace for that).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV = "VOICESTREAM_NET_LOG"
"""Environment variable naming the log file; set, it turns recording on in new processes."""
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_installed: list[Path] = []
_lock = threading.Lock()


def is_local(host: object) -> bool:
    """Whether ``host`` (a name, an address string or bytes, or ``None``) is this machine."""
    if host is None or host in ("", b""):
        return True  # getaddrinfo(None, port): the local host
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%")[0].rstrip(".").lower()
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a name to look up: never local unless listed above
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _stack() -> list[str]:
    frames = traceback.extract_stack()[:-3]
    return [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames[-8:]]


def _record(path: Path, call: str, host: object, port: object) -> None:
    entry = {
        "pid": os.getpid(),
        "argv": sys.argv[:3],
        "call": call,
        "host": host.decode("ascii", "replace") if isinstance(host, bytes) else str(host),
        "port": port if isinstance(port, int) else str(port),
        "stack": _stack(),
    }
    with _lock, path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def _peer(address: object) -> tuple[object, object] | None:
    """(host, port) of an inet socket address; ``None`` for Unix sockets and anything else."""
    if isinstance(address, tuple) and len(address) >= 2:
        return address[0], address[1]
    return None


def install(path: str | os.PathLike[str]) -> None:
    """Start recording this process's outbound attempts to ``path`` (idempotent)."""
    log = Path(path)
    if _installed:
        _installed[0] = log
        return
    _installed.append(log)

    def name_lookup(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not is_local(host):
                port = args[0] if args else kwargs.get("port", "")
                _record(_installed[0], name, host, port)
            return real(host, *args, **kwargs)

        wrapper.__wrapped__ = real  # type: ignore[attr-defined]
        return wrapper

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        setattr(socket, name, name_lookup(name, getattr(socket, name)))

    def peer_call(name: str, fewest: int, position: int) -> None:
        """Wrap ``socket.socket.<name>``, whose address is ``args[position]`` when it has at
        least ``fewest`` arguments."""
        real = getattr(socket.socket, name)

        def wrapper(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
            peer = _peer(args[position]) if len(args) >= fewest else None
            if peer is not None and self.family in (socket.AF_INET, socket.AF_INET6) and not is_local(peer[0]):
                _record(_installed[0], name, peer[0], peer[1])
            return real(self, *args, **kwargs)

        wrapper.__wrapped__ = real  # type: ignore[attr-defined]
        setattr(socket.socket, name, wrapper)

    peer_call("connect", 1, 0)
    peer_call("connect_ex", 1, 0)
    peer_call("sendto", 2, -1)  # sendto(data, address) or sendto(data, flags, address)
    peer_call("sendmsg", 4, 3)  # sendmsg(buffers, ancdata, flags, address)


def attempts(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The attempts recorded in ``path`` (none when the file does not exist)."""
    log = Path(path)
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
