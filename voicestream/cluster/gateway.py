"""The live server's gateway as a Ray Serve deployment: websockets through Serve's HTTP proxy.

Each gateway replica runs the one-process server's
:class:`~voicestream.server.websocket.VoicestreamServer` as an ASGI application
(:mod:`voicestream.server.asgi`): it holds its websockets and their sessions (policy, VAD,
live speaker state, translation), the page, ``/info`` and ``/metrics``, and calls the ASR
(and speaker) deployments for every decode. Serve's proxy routes each new websocket to a
replica, where it stays for its life: a gateway replica that dies ends its own sessions
(the clients see the connection close), and the others go on.

Arguments are plain values (a Serve config's ``args``); the token is never one of them:
a replica reads ``$VOICESTREAM_TOKEN`` from its node's environment when ``token_required``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from voicestream.blas import one_blas_thread
from voicestream.errors import OptionError
from voicestream.server.websocket import ServerConfig

APP_NAME = "voicestream-gateway"
DEPLOYMENT_NAME = "gateway"
TOKEN_VARIABLE = "VOICESTREAM_TOKEN"
_HTTP_REQUESTS = 8
"""Requests a replica takes beyond its sessions (page, ``/info``, ``/metrics``)."""


@dataclass(frozen=True, slots=True)
class GatewayReplicas:
    """How the gateway deployment is sized: ``replicas`` of ``cpus_per_replica`` CPUs.

    A gateway replica runs VAD and the session policy (0.018 CPU s per audio second per
    session measured with decodes remote: ``benchmarks/cluster.py``), so half a CPU holds tens of sessions.

    Raises:
        OptionError: fewer than one replica, or no CPUs per replica.
    """

    replicas: int = 1
    cpus_per_replica: float = 0.5

    def __post_init__(self) -> None:
        if self.replicas < 1 or self.cpus_per_replica <= 0:
            raise OptionError("--gateway-replicas must be at least 1, with more than 0 CPUs each")


_ARGS = (
    "max_sessions", "idle_timeout_s", "max_session_s", "max_rate", "workers", "hypothesis_drafts",
    "max_speaker_audio_s", "file_jobs", "max_upload_bytes",
)  # fmt: skip


def app_args(config: ServerConfig, diarize: bool) -> dict[str, Any]:
    """:func:`build_app`'s arguments for a gateway with ``config``'s limits (plain values)."""
    return {
        **{name: getattr(config, name) for name in _ARGS},
        "allowed_origins": list(config.allowed_origins),
        "token_required": config.token is not None,
        "page": config.web_root is not None,
        "diarize": diarize,
    }


def config_from_args(args: dict[str, Any]) -> tuple[ServerConfig, bool]:
    """The server config and whether sessions may ask for speaker labels, from :func:`app_args`.

    Raises:
        OptionError: unknown arguments, or a token required and ``$VOICESTREAM_TOKEN`` unset.
    """
    from voicestream.server.web import default_web_root

    known = {*_ARGS, "allowed_origins", "token_required", "page", "diarize"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise OptionError(f"unknown gateway arguments: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    token = os.environ.get(TOKEN_VARIABLE) or None
    if args.get("token_required") and token is None:
        raise OptionError(f"the gateway requires a token: set ${TOKEN_VARIABLE} on the nodes its replicas run on")
    given = {name: args[name] for name in _ARGS if name in args}
    config = ServerConfig(
        **given,
        token=token if args.get("token_required") else None,
        allowed_origins=tuple(args.get("allowed_origins", ())),
        web_root=default_web_root() if args.get("page", True) else None,
        warm_speech=True,
    )
    return config, bool(args.get("diarize", False))


def deployment_options(sizing: GatewayReplicas, max_sessions: int) -> dict[str, Any]:
    """Ray Serve options of the ``gateway`` deployment (as in a Serve config's ``deployments``):
    a websocket is one request for its whole life, so a replica takes ``max_sessions`` of them
    and a few plain requests; the server's own check refuses one more session with 1013."""
    return {
        "name": DEPLOYMENT_NAME,
        "max_ongoing_requests": max_sessions + _HTTP_REQUESTS,
        "health_check_period_s": 2.0,
        "graceful_shutdown_timeout_s": 5.0,
        "num_replicas": sizing.replicas,
        "ray_actor_options": {"num_cpus": sizing.cpus_per_replica},
    }


class GatewayReplica:
    """One gateway replica: a :class:`~voicestream.server.websocket.VoicestreamServer` whose
    engines are the ASR (and speaker) deployments' handles, served as an ASGI application."""

    async def __init__(self, args: dict[str, Any]) -> None:  # type: ignore[misc]  # Serve awaits it
        from ray import serve

        from voicestream.cluster.asr import APP_NAME as ASR_APP
        from voicestream.cluster.asr import RemoteAsrEngine
        from voicestream.cluster.speakers import APP_NAME as SPEAKER_APP
        from voicestream.cluster.speakers import RemoteSpeakerModels
        from voicestream.diarize.live import SpeakerModels
        from voicestream.live.vad_stream import SileroFrameModel
        from voicestream.server.websocket import VoicestreamServer

        one_blas_thread()  # a Ray worker process does not run the CLI's main()
        config, diarize = config_from_args(args)
        # handles answer blocking calls from threads only (the live workers call them there)
        asr = await asyncio.to_thread(lambda: RemoteAsrEngine(serve.get_app_handle(ASR_APP)))
        speakers: SpeakerModels | None = None
        if diarize:
            speakers = await asyncio.to_thread(lambda: RemoteSpeakerModels(serve.get_app_handle(SPEAKER_APP)))
        self.server = VoicestreamServer(asr, SileroFrameModel(), config, speakers)
        await self.server.open()

    def __serve_build_asgi_app__(self) -> Any:
        """The ASGI application Serve's proxy sends this replica's requests to."""
        from voicestream.server import asgi

        return asgi.build(self.server)

    async def __del__(self) -> None:
        await self.server.shutdown()


def build_app(args: dict[str, Any]) -> Any:
    """The gateway application (a Serve application builder: ``import_path:
    voicestream.cluster.gateway:build_app``, :func:`app_args` as ``args``); it needs the
    ASR application (and with ``diarize`` the speaker application) on the same cluster."""
    config, _ = config_from_args({**args, "token_required": False})  # checked here, the token on the replicas
    return _deployment(GatewayReplicas(), config.max_sessions).bind(args)


def _deployment(sizing: GatewayReplicas, max_sessions: int) -> Any:
    from ray import serve

    return serve.deployment(**deployment_options(sizing, max_sessions))(serve.ingress()(GatewayReplica))


def app_config(args: dict[str, Any], sizing: GatewayReplicas) -> dict[str, Any]:
    """The gateway application's entry of a Serve config file (served at ``/``)."""
    return {
        "name": APP_NAME,
        "route_prefix": "/",
        "import_path": f"{__name__}:build_app",
        "args": args,
        "deployments": [deployment_options(sizing, int(args["max_sessions"]))],
    }


def deploy(args: dict[str, Any], sizing: GatewayReplicas) -> None:
    """Start (or update) the gateway deployment on the cluster this process joined, after the
    ASR (and speaker) deployments; Serve's proxy must already listen (``asr.deploy(http=...)``)."""
    from ray import serve

    serve.run(_deployment(sizing, int(args["max_sessions"])).bind(args), name=APP_NAME, route_prefix="/")


def wait_for_proxy(host: str, port: int, wait_s: float = 60.0) -> dict[str, Any]:
    """``/info`` of the gateway deployment through Serve's proxy on ``host:port``, once it answers.

    Raises:
        OptionError: nothing answers in ``wait_s`` seconds (a Serve instance started earlier on
            the cluster keeps its own proxy settings).
    """
    where = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)
    url = f"http://{where}:{port}/info"
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                info: dict[str, Any] = json.load(reply)
                return info
        except (OSError, ValueError) as e:
            if time.monotonic() > deadline:
                raise OptionError(
                    f"the gateway does not answer at {url} after {wait_s:.0f} s ({e}): a Serve instance "
                    "started earlier on this cluster keeps its own proxy address (`serve shutdown` it first)"
                ) from None
            time.sleep(0.5)
