"""Joining a Ray cluster, or starting a local one for this process."""

from __future__ import annotations

import logging
import os
import sys

from voicestream.errors import ModelError, OptionError

# Ray 2.60 runs its workers through `uv run` in a temporary folder when the driver was started
# with `uv run` (as the README runs everything): they miss the project's environment and die at
# start ("No module named 'ray'"), and the run waits for ever. Every node has voicestream
# installed (docs/cluster.md), so workers use the interpreter they are given. Read at Ray's
# import, so set here, before it; a value the user set is kept.
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")


_LOCAL: list[bool] = []
"""Whether this process started the cluster it joined (set by :func:`connect`)."""

IDLE_LEAN = {"enable_worker_prestart": False, "num_workers_soft_limit": 0}
"""Ray settings of a local cluster started by voicestream (Ray allows them only at a start)."""


def connect(address: str | None) -> None:
    """Join the cluster at ``address`` (``auto``, ``ray://host:10001``, ``host:6379``), or at
    ``$RAY_ADDRESS``, else start a local one that listens on loopback only; nothing when
    this process is connected already.

    Raises:
        ModelError: Ray is not installed (the ``ray`` extra).
        OptionError: the cluster cannot be reached.
    """
    try:
        import ray  # heavy and optional: only --ray runs import it
    except ImportError as e:
        raise ModelError("--ray needs Ray: install voicestream's 'ray' extra (uv sync --extra ray)") from e
    if ray.is_initialized():
        return
    local = address is None and "RAY_ADDRESS" not in os.environ
    try:
        ray.init(
            # "local": a cluster of this process's own, even where `ray start` ran on this machine
            # (or left its address file behind), listening on loopback only
            address="local" if local else address,
            _node_ip_address="127.0.0.1" if local else None,
            include_dashboard=False,
            log_to_driver=False,
            # no pool of idle task workers kept (started when a task needs one): an idle local
            # cluster costs 3.2% of a core and 580 MiB instead of 4.8-5.4% and 750 MiB
            _system_config=IDLE_LEAN if local else None,
            logging_level=logging.WARNING,
            configure_logging=False,
        )
        _LOCAL[:] = [local]
    except ConnectionError as e:
        where = address or os.environ.get("RAY_ADDRESS")
        hint = "" if local else " (a cluster with token authentication also needs RAY_AUTH_MODE=token and its token)"
        raise OptionError(f"cannot reach the Ray cluster at {where}: {e}{hint}") from e


def check_room(cpus: float, gpus: float, what: str) -> None:
    """Refuse replicas that a local cluster can never place (Serve would wait for them for
    ever); on a cluster given by address, only warn: an autoscaler may add nodes.

    Raises:
        OptionError: a local cluster has fewer CPUs or GPUs than ``what`` reserve.
    """
    import ray

    have = ray.cluster_resources()  # type: ignore[no-untyped-call]
    short = [f"{need:g} {kind}s (the cluster has {have.get(kind, 0.0):g})"
             for kind, need in (("CPU", cpus), ("GPU", gpus)) if need > have.get(kind, 0.0) + 1e-9]  # fmt: skip
    if not short:
        return
    message = f"{what} reserve {' and '.join(short)}"
    if _LOCAL and _LOCAL[0]:
        raise OptionError(f"{message}: fewer replicas or fewer CPUs per replica (--cpus-per-replica) would fit")
    print(f"voicestream: {message}; Serve starts them when the cluster has room", file=sys.stderr, flush=True)
