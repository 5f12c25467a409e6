"""Reading a process's state from /proc (Linux), for tests of helper processes."""

from __future__ import annotations

import os
import time
from pathlib import Path


def _fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def state(pid: int) -> str:
    """The process's state letter (``R``/``S``: running/sleeping, ``T``: stopped, ``Z``: exited,
    not yet reaped; ``X`` once gone)."""
    try:
        return _fields(pid)[0]
    except FileNotFoundError:
        return "X"


def cpu_s(pid: int) -> float:
    """CPU seconds the process has used (user + system)."""
    fields = _fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_gone(pid: int, timeout_s: float = 10.0) -> bool:
    """Whether process ``pid`` exits (or is only a zombie) within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if state(pid) in "ZX":
            return True
        time.sleep(0.05)
    return False


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    return found
