"""The outbound-network audit for commands run as users run them.

Two layers, so that one can vouch for the other:

- **Python**: processes started with :meth:`NetworkAudit.env` load ``tests/netguard`` at
  start-up (``sitecustomize``) and log each look-up or connection to a host that is not
  this machine, with the Python stack that made it (``netguard/netrecord.py``);
- **system calls**: commands started through :meth:`NetworkAudit.argv` run under
  ``strace -f``, which sees every ``connect``/``sendto``/``sendmsg`` to an inet address
  made by any thread or child process, native libraries (CTranslate2, onnxruntime, torch,
  hf_xet) and programs (ffmpeg, espeak-ng) included. A name look-up shows there as a
  packet to the DNS server.

Loopback, the unspecified address, Unix and netlink sockets are not attempts.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.netguard import netrecord

NETGUARD = Path(__file__).resolve().with_name("netguard")
_TRACED = "execve,connect,sendto,sendmsg"  # execve: proof the trace ran
_INET = re.compile(
    r"^(?P<pid>\d+)\s+(?P<call>connect|sendto|sendmsg)\(.*?sa_family=AF_INET6?,\s*sin6?_port=htons\((?P<port>\d+)\)"
    r".*?(?:sin_addr=inet_addr\(\"(?P<v4>[^\"]+)\"\)|inet_pton\(AF_INET6,\s*\"(?P<v6>[^\"]+)\")"
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One outbound attempt: which layer saw it, the process, the call and its peer."""

    layer: str
    pid: int
    call: str
    host: str
    port: int | str
    detail: str

    def __str__(self) -> str:
        return f"[{self.layer}] pid {self.pid} {self.call} {self.host}:{self.port}  {self.detail}"


class NetworkAudit:
    """Logs in ``folder`` for the commands started through it."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.python_log = folder / "net-python.jsonl"
        self.trace_log = folder / "net-syscalls.txt"
        self._traces = 0

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with the Python recorder turned on."""
        env = dict(os.environ if base is None else base)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(NETGUARD), env.get("PYTHONPATH", "")) if p)
        env[netrecord.ENV] = str(self.python_log)
        return env

    def argv(self, argv: list[str]) -> list[str]:
        """``argv`` run under ``strace -f`` (its children and threads included), logging to a
        file of its own per call."""
        strace = shutil.which("strace")
        assert strace, "strace is needed for the network audit (apt-get install strace)"
        self._traces += 1
        out = self.trace_log.with_suffix(f".{self._traces}.txt")
        return [strace, "-f", "-qq", "--seccomp-bpf", "-e", f"trace={_TRACED}", "-e", "signal=none",
                "-o", str(out), "--", *argv]  # fmt: skip

    def attempts(self) -> list[Attempt]:
        """Every outbound attempt both layers saw so far."""
        found = [
            Attempt("python", int(a["pid"]), str(a["call"]), str(a["host"]), a["port"], " < ".join(a["stack"][::-1]))
            for a in netrecord.attempts(self.python_log)
        ]
        for log in sorted(self.trace_log.parent.glob(self.trace_log.stem + ".*.txt")):
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                m = _INET.match(line)
                if m and not netrecord.is_local(m["v4"] or m["v6"]):
                    found.append(
                        Attempt("syscall", int(m["pid"]), m["call"], m["v4"] or m["v6"], int(m["port"]), line[:160])
                    )
        return found

    def traced_programs(self) -> int:
        """How many programs the system-call trace saw start (``execve``, the command itself
        included): shows the trace ran at all, on a run that made no connection."""
        return sum(
            sum(" execve(" in line for line in log.read_text(encoding="utf-8", errors="replace").splitlines())
            for log in self.trace_log.parent.glob(self.trace_log.stem + ".*.txt")
        )
