"""``voicestream serve``: the live-caption websocket server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicestream import registry
from voicestream.asr import AsrEngine, FasterWhisperEngine, default_cpu_threads
from voicestream.catalog import default_model
from voicestream.cli import diarize, draft, ray_config
from voicestream.cluster import gateway, speakers
from voicestream.cluster.asr import APP_NAME as ASR_APP
from voicestream.cluster.asr import AsrReplicas, RemoteAsrEngine, attach, deploy, undeploy
from voicestream.cluster.connect import check_room, connect
from voicestream.cluster.speakers import APP_NAME as SPEAKER_APP
from voicestream.diarize.engine import load_diarizer
from voicestream.errors import OptionError
from voicestream.live.services import create_revision_engine
from voicestream.live.vad_stream import SileroFrameModel
from voicestream.server.listener import HttpServer
from voicestream.server.protocol import ROOM_NAME
from voicestream.server.rooms import RoomLimits
from voicestream.server.web import default_web_root
from voicestream.server.websocket import ServerConfig, VoicestreamServer

if TYPE_CHECKING:
    from voicestream.diarize.live import SpeakerModels

_STOP_REPORT_S = 20.0
"""Seconds after Ctrl-C at which a server still stopping prints its threads' stacks."""


def add_parser(sub: Any) -> None:
    """Register the ``serve`` sub-command."""
    p = sub.add_parser("serve", help="serve live captions over a websocket (protocol: docs/protocol.md)")
    d = ServerConfig()
    p.add_argument("--host", default=d.host, help=f"address to listen on (default: {d.host}, this machine only)")
    p.add_argument("--port", type=int, default=d.port, help=f"port (default: {d.port}; 0 picks a free one)")
    p.add_argument("-m", "--model", default=None, help=f"model name, hub id or directory (default: {default_model()})")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="inference device (default: cpu)")
    p.add_argument("--compute-type", default="default", help="CTranslate2 compute type (default: int8 on CPU)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="inference threads, each running CTranslate2 on cores / workers threads (default: 1 per core: "
        "measured here, 4 live sessions on 2 cores had p95 final latency 3.5 s with 2 workers, "
        "11 s with 1 worker of 2 threads)",
    )
    p.add_argument("--token", default=os.environ.get("VOICESTREAM_TOKEN"),
                   help="shared secret clients must send (default: $VOICESTREAM_TOKEN; none)")  # fmt: skip
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="browser origin allowed (repeatable; * for any; default: same host only)")  # fmt: skip
    p.add_argument(
        "--max-sessions", type=int, default=d.max_sessions, help=f"concurrent sessions (default: {d.max_sessions})"
    )
    p.add_argument(
        "--idle-timeout", type=float, default=d.idle_timeout_s, help="seconds without messages before closing"
    )
    p.add_argument("--max-session-length", type=float, default=d.max_session_s, help="longest session in seconds")
    p.add_argument("--max-rate", type=float, default=d.max_rate,
                   help="most audio seconds per second a client may send, sustained (0: no limit)")  # fmt: skip
    p.add_argument("--web-root", type=Path, default=None, metavar="DIR",
                   help="folder of the browser page served on the same port (default: clients/web)")  # fmt: skip
    p.add_argument("--no-web", action="store_true", help="serve no browser page, only the websocket")
    p.add_argument("--room", default=None, metavar="NAME",
                   help="caption room sessions publish to when their start names none; viewers read a room at "
                   "/watch?room=NAME (docs/live.md)")  # fmt: skip
    p.add_argument("--viewer-token", default=os.environ.get("VOICESTREAM_VIEWER_TOKEN"),
                   help="secret viewers of rooms present (default: $VOICESTREAM_VIEWER_TOKEN; without it viewers "
                   "need --token when one is set)")  # fmt: skip
    p.add_argument("--max-rooms", type=int, default=d.rooms.max_rooms, help="rooms at once")
    p.add_argument("--max-viewers", type=int, default=d.rooms.max_viewers, help="viewers per room")
    p.add_argument("--file-jobs", type=int, default=d.file_jobs, metavar="N",
                   help=f"uploads the HTTP API (/v1/audio/...: docs/http-api.md) transcribes at once, on the "
                   f"live sessions' workers (default: {d.file_jobs}; 0 takes no files)")  # fmt: skip
    p.add_argument("--max-upload-mb", type=float, default=d.max_upload_bytes / 2**20, metavar="MB",
                   help=f"largest upload of the HTTP API in MiB (default: {d.max_upload_bytes / 2**20:g})")  # fmt: skip
    p.add_argument("--shared-revisions", action="store_true",
                   help="decode live revisions on the inference workers when they are idle (or overdue) instead "
                        "of on a copy of the model whose thread runs at low priority (saves the copy's memory; "
                        "always so with --ray or on a GPU)")  # fmt: skip
    p.add_argument("--no-hypothesis-drafts", action="store_true",
                   help="decode every update token by token instead of verifying the previous hypothesis")  # fmt: skip
    draft.add_arguments(p)
    diarize.add_arguments(p, counts=False)
    p.add_argument("--max-speaker-audio", type=float, default=d.max_speaker_audio_s, metavar="SECONDS",
                   help="audio a diarized session keeps for its end-of-stream relabelling pass "
                        f"(default: {d.max_speaker_audio_s:g}; 32 kB per second)")  # fmt: skip
    ray = p.add_argument_group("ASR and speaker models on a Ray cluster (the 'ray' extra)")
    ray.add_argument("--ray", action="store_true",
                     help="decode (and with --diarize label speakers) on Ray Serve deployments: replicas "
                          "that hold the models and no session state; this process keeps the sessions")  # fmt: skip
    ray.add_argument("--address", default=None,
                     help="Ray cluster address (default: $RAY_ADDRESS, else a local cluster)")  # fmt: skip
    ray.add_argument("--no-deploy", action="store_true",
                     help="use the applications already on the cluster (`serve deploy` of `voicestream "
                          "ray-config`) instead of deploying them; they stay when this server stops")  # fmt: skip
    ray.add_argument("--gateway-replicas", type=int, default=None, metavar="N",
                     help="serve the websockets, page, /info and /metrics from N Ray Serve gateway replicas "
                          "behind Serve's HTTP proxy on --host/--port (each holds --max-sessions sessions), "
                          "instead of from this process (docs/cluster.md)")  # fmt: skip
    ray_config.add_sizing(ray)
    ray_config.add_speaker_sizing(ray)
    p.set_defaults(run=run)


def _engine(args: argparse.Namespace, workers: int) -> tuple[AsrEngine, int]:
    """The ASR engine (local, or the Ray deployment's) and the worker threads that call it."""
    if not args.ray:
        given = [f for f, v in (("--address", args.address), ("--no-deploy", args.no_deploy)) if v]
        given += ray_config.sizing_given(args)
        given += ray_config.speaker_sizing_given(args)
        if given:
            raise OptionError(f"{', '.join(given)} need{'s' if len(given) == 1 else ''} --ray")
        engine = registry.create_asr_engine(
            args.model,
            args.device,
            args.compute_type,
            workers=workers,
            draft_model=args.draft_model,
            draft=draft.draft_settings(args),
            draft_policy=args.draft_policy,
        )
        if engine.draft_note:
            print(f"voicestream: {engine.draft_note}", file=sys.stderr)
        return engine, workers
    if args.no_deploy:
        if given := ray_config.sizing_given(args):
            raise OptionError(f"{', '.join(given)}: with --no-deploy the deployed config sizes the replicas")
        print("voicestream: joining the ASR deployment on Ray ...", file=sys.stderr, flush=True)
        remote = RemoteAsrEngine(attach(args.address))
        return remote, max(workers, args.workers or 0)
    sizing = ray_config.sizing(args)
    models = ray_config.model_settings(args)
    _check_room(args, sizing, ray_config.speaker_sizing(args), None)
    print("voicestream: starting the ASR deployment on Ray ...", file=sys.stderr, flush=True)
    remote = RemoteAsrEngine(deploy(args.address, models, sizing))
    # a worker thread waits on one remote decode: one per replica, at least the local default
    return remote, max(workers, sizing.replicas or 1, args.workers or 0)


def _revision_engine(args: argparse.Namespace, engine: AsrEngine) -> AsrEngine | None:
    """A second copy of the model for live revisions, its compute thread at low priority, when
    ``engine`` runs on CPU (a GPU's kernels know no priority); ``None`` with ``--ray`` or
    ``--shared-revisions``. The copy has no draft model: a revision verifies the utterance's
    first text as its draft."""
    if args.ray or args.shared_revisions or not isinstance(engine, FasterWhisperEngine):
        return None
    if str(engine.whisper_model.model.device) != "cpu":
        return None
    return create_revision_engine(args.model, args.compute_type)


def _speakers(args: argparse.Namespace, workers: int, sizing: speakers.SpeakerReplicas | None) -> SpeakerModels | None:
    """The speaker models the command line asks for: loaded here, or on Ray replicas."""
    if not diarize.wanted(args):
        return None
    if args.ray and args.no_deploy:
        print("voicestream: joining the speaker deployment on Ray ...", file=sys.stderr, flush=True)
        return speakers.RemoteSpeakerModels(attach(args.address, app=SPEAKER_APP))
    if args.ray and sizing is not None:
        print("voicestream: starting the speaker deployment on Ray ...", file=sys.stderr, flush=True)
        return speakers.RemoteSpeakerModels(speakers.deploy(args.diarize_model, sizing))
    import torch  # PyTorch comes with the diarize and dub extras

    from voicestream.diarize.live import DiarizationModels  # needs SciPy (the diarize extra)

    torch.set_num_threads(max(1, default_cpu_threads() // workers))
    return DiarizationModels(load_diarizer(args.diarize_model, args.hf_token, "cpu"))


def run(args: argparse.Namespace) -> int:
    """Load the models once and serve until Ctrl-C or SIGTERM, which close every session first."""
    if args.max_sessions < 1:
        raise OptionError("--max-sessions must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise OptionError("--workers must be at least 1")
    if args.file_jobs < 0 or args.max_upload_mb <= 0:
        raise OptionError("--file-jobs must be 0 or more and --max-upload-mb above 0")
    if args.viewer_token and not args.token:
        raise OptionError("--viewer-token without --token would let anyone publish: set --token too")
    if args.max_rooms < 1 or args.max_viewers < 1:
        raise OptionError("--max-rooms and --max-viewers must be at least 1")
    if args.room is not None and not ROOM_NAME.fullmatch(args.room):
        raise OptionError("--room must be 1-64 letters, digits, '.', '_' or '-'")
    if args.web_root is not None and not (args.web_root / "index.html").is_file():
        raise OptionError(f"--web-root {args.web_root}: no index.html there")
    workers = args.workers or default_cpu_threads()
    speaker_sizes = ray_config.speaker_sizing(args) if args.ray else None  # checked before any model loads
    if args.ray and args.hf_token and diarize.wanted(args):
        raise OptionError("--hf-token with --ray: the speaker replicas read $HF_TOKEN from their nodes' environment")
    if args.no_deploy and ray_config.speaker_sizing_given(args):
        raise OptionError("with --no-deploy the deployed config sizes the speaker replicas")
    if args.gateway_replicas is not None:
        return _serve_on_ray(args, workers, speaker_sizes)
    try:
        engine, workers = _engine(args, workers)
        revision_engine = _revision_engine(args, engine)
        diarization = _speakers(args, workers, speaker_sizes)
    except BaseException:
        if args.ray:  # the ASR application is up when the speaker one fails to start: take it down
            undeploy(remove=not args.no_deploy, apps=(SPEAKER_APP, ASR_APP))
        raise
    config = _config(args, workers)
    logging.getLogger("voicestream").setLevel(logging.INFO)
    server = VoicestreamServer(engine, SileroFrameModel(), config, diarization, revision_engine)

    async def main() -> None:
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # `docker stop`, systemd: the same as Ctrl-C
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        http = HttpServer(server)
        port = await http.start()
        auth = "token required" if config.token else "no token"
        auth += f", speaker labels by {diarization.name}" if diarization is not None else ""
        page = f", page at http://{config.host}:{port}/" if server.page.files else ""
        where = f", ASR on Ray ({_replicas_text(args)})" if args.ray else ""
        page += f", HTTP API at http://{config.host}:{port}/v1" if config.file_jobs else ""
        print(f"voicestream: serving {engine.name} on ws://{config.host}:{port}{page} ({auth}, "
              f"{config.max_sessions} sessions, {workers} workers{where})", file=sys.stderr, flush=True)  # fmt: skip
        try:
            await stop.wait()
        finally:
            print("voicestream: stopping", file=sys.stderr, flush=True)
            faulthandler.dump_traceback_later(_STOP_REPORT_S)  # a stop that hangs says where
            await http.stop()

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # until main() runs (Ray sets its own)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        if args.ray:
            undeploy(remove=not args.no_deploy, apps=(ASR_APP, SPEAKER_APP) if diarization else (ASR_APP,))
    print("voicestream: stopped", file=sys.stderr, flush=True)
    _exit_now(0)
    return 0  # not reached


def _config(args: argparse.Namespace, workers: int) -> ServerConfig:
    return ServerConfig(
        host=args.host, port=args.port, token=args.token or None, allowed_origins=tuple(args.allow_origin),
        max_sessions=args.max_sessions, idle_timeout_s=args.idle_timeout, max_session_s=args.max_session_length,
        max_rate=args.max_rate, workers=workers, hypothesis_drafts=not args.no_hypothesis_drafts,
        web_root=None if args.no_web else (args.web_root or default_web_root()),
        max_speaker_audio_s=args.max_speaker_audio, warm_speech=True, file_jobs=args.file_jobs,
        max_upload_bytes=int(args.max_upload_mb * 2**20), room=args.room, viewer_token=args.viewer_token or None,
        rooms=RoomLimits(max_rooms=args.max_rooms, max_viewers=args.max_viewers),
    )  # fmt: skip


def _serve_on_ray(args: argparse.Namespace, workers: int, speaker_sizes: speakers.SpeakerReplicas | None) -> int:
    """``serve --ray --gateway-replicas N``: the ASR (and speaker) deployments and a gateway
    deployment behind Serve's proxy on ``--host``/``--port``; this process waits for Ctrl-C or
    SIGTERM and then takes the three applications down."""
    wrong = [f for f, v in (("--no-deploy", args.no_deploy), ("--web-root", args.web_root)) if v]
    if not args.ray or wrong:
        raise OptionError("--gateway-replicas needs --ray" if not args.ray else f"--gateway-replicas with {wrong[0]}: "
                          "the gateway replicas serve the packaged page from the deployed applications")  # fmt: skip
    if args.port == 0:
        raise OptionError("--gateway-replicas needs a fixed --port: Serve's proxy listens on it on every node")
    sizing = gateway.GatewayReplicas(args.gateway_replicas)
    asr_sizing, models = ray_config.sizing(args), ray_config.model_settings(args)
    config = _config(args, max(workers, asr_sizing.replicas or 1, args.workers or 0))
    if config.token is not None:  # a local cluster's replicas inherit it; other nodes need it set (docs/cluster.md)
        os.environ[gateway.TOKEN_VARIABLE] = config.token
    apps = (gateway.APP_NAME, SPEAKER_APP, ASR_APP) if speaker_sizes is not None else (gateway.APP_NAME, ASR_APP)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        _check_room(args, asr_sizing, speaker_sizes, sizing)
        print("voicestream: starting the ASR deployment and Serve's proxy on Ray ...", file=sys.stderr, flush=True)
        deploy(args.address, models, asr_sizing, http=(args.host, args.port))
        if speaker_sizes is not None:
            print("voicestream: starting the speaker deployment on Ray ...", file=sys.stderr, flush=True)
            speakers.deploy(args.diarize_model, speaker_sizes)
        print(f"voicestream: starting {sizing.replicas} gateway replicas on Ray ...", file=sys.stderr, flush=True)
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # Ray set its own at the connect
        gateway.deploy(gateway.app_args(config, speaker_sizes is not None), sizing)
        info = gateway.wait_for_proxy(args.host, args.port)
        auth = "token required" if config.token else "no token"
        print(f"voicestream: serving {info['model']} on ws://{args.host}:{args.port} through Ray Serve's proxy "
              f"({auth}, {sizing.replicas} gateway replicas of {config.max_sessions} sessions, "
              f"{_replicas_text(args)})", file=sys.stderr, flush=True)  # fmt: skip
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("voicestream: stopping", file=sys.stderr, flush=True)
    finally:
        for each in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the clean-up short
            signal.signal(each, signal.SIG_IGN)
        undeploy(apps=apps)
    print("voicestream: stopped", file=sys.stderr, flush=True)
    _exit_now(0)
    return 0  # not reached


def _check_room(
    args: argparse.Namespace,
    asr: AsrReplicas,
    speaker_sizes: speakers.SpeakerReplicas | None,
    gateways: gateway.GatewayReplicas | None,
) -> None:
    """Join the cluster and check that the replicas asked for fit in it (autoscaled: the first)."""
    connect(args.address)
    count = asr.replicas or 1
    cpus = count * asr.cpus_per_replica
    cpus += speaker_sizes.replicas * speaker_sizes.cpus_per_replica if speaker_sizes is not None else 0.0
    cpus += gateways.replicas * gateways.cpus_per_replica if gateways is not None else 0.0
    check_room(cpus, count * asr.gpus_per_replica, "the replicas asked for")


def _replicas_text(args: argparse.Namespace) -> str:
    """The start-up line's account of the replicas: ``1 replicas``, ``..., 1 speaker replicas``."""
    speaker_sizes = ray_config.speaker_sizing(args)
    if args.no_deploy:
        return "the deployed replicas" + (", speakers too" if speaker_sizes is not None else "")
    replicas = ray_config.sizing(args).replicas
    text = f"{replicas} replicas" if replicas else "autoscaled replicas"
    return text + (f", {speaker_sizes.replicas} speaker replicas" if speaker_sizes is not None else "")


def _exit_now(code: int) -> None:
    """End the process once everything it owns is closed, without the interpreter's teardown:
    collecting the heap of loaded models took 2-7 s here after every session had ended."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
