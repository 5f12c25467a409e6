"""``voicestream ray-config``: a Ray Serve config of the ASR application (and the speaker
application), for ``serve deploy``; and the replica options it shares with ``serve --ray``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from voicestream.catalog import check_name, default_model
from voicestream.cli import diarize, draft
from voicestream.cluster import gateway, speakers
from voicestream.cluster.asr import AsrReplicas, serve_config
from voicestream.errors import ModelError, OptionError, OutputError
from voicestream.files.transcriber import ModelSettings
from voicestream.server.websocket import ServerConfig


def add_parser(sub: Any) -> None:
    """Register the ``ray-config`` sub-command."""
    p = sub.add_parser(
        "ray-config",
        help="print a Ray Serve config of the ASR replicas, for `serve deploy` (docs/cluster.md)",
        description="Print a Ray Serve config file of voicestream's ASR application. Deploy it with "
        "`serve deploy FILE` on the cluster, then run `voicestream serve --ray --no-deploy` as the gateway.",
    )
    p.add_argument("-m", "--model", default=None, help=f"model name, hub id or directory (default: {default_model()})")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="inference device (default: cpu)")
    p.add_argument("--compute-type", default="default", help="CTranslate2 compute type (default: int8 on CPU)")
    draft.add_arguments(p)
    diarize.add_arguments(p, counts=False, token=False)
    add_sizing(p)
    add_speaker_sizing(p)
    g = p.add_argument_group("the gateway as a Serve deployment (else `voicestream serve --ray --no-deploy` is it)")
    g.add_argument("--gateway-replicas", type=int, default=None, metavar="N",
                   help="add the gateway application: N replicas behind Serve's proxy hold the websockets")  # fmt: skip
    g.add_argument("--host", default=None, help="address Serve's proxy listens on (default: 127.0.0.1)")
    g.add_argument("--port", type=int, default=None, help="port of Serve's proxy (default: 8765)")
    g.add_argument("--max-sessions", type=int, default=None, help="sessions per gateway replica (default: 4)")
    g.add_argument("--allow-origin", action="append", default=None, metavar="ORIGIN",
                   help="browser origin allowed (repeatable; * for any; default: same host only)")  # fmt: skip
    g.add_argument("--require-token", action="store_true",
                   help="clients must send the token in $VOICESTREAM_TOKEN of the gateway replicas' nodes")  # fmt: skip
    p.add_argument("-o", "--output", type=Path, default=None, metavar="FILE", help="write here (default: stdout)")
    p.set_defaults(run=run)


def add_sizing(p: Any) -> None:
    """Add ``--asr-replicas``, ``--cpus-per-replica`` and ``--gpus-per-replica`` to ``p``
    (``None`` when not given; :func:`sizing` fills the defaults)."""
    p.add_argument("--asr-replicas", type=_replicas, default=None, metavar="N|auto",
                   help="ASR replicas, or auto to scale with load (default: 1)")  # fmt: skip
    p.add_argument("--cpus-per-replica", type=float, default=None, metavar="N",
                   help="CPUs per ASR replica; its Whisper runs that many threads (default: 1)")  # fmt: skip
    p.add_argument(
        "--gpus-per-replica", type=float, default=None, metavar="N", help="GPUs per ASR replica (default: 0)"
    )


def add_speaker_sizing(p: Any) -> None:
    """Add ``--speaker-replicas`` and ``--cpus-per-speaker-replica`` to ``p`` (``None`` when not given)."""
    p.add_argument("--speaker-replicas", type=int, default=None, metavar="N",
                   help="speaker model replicas, with --diarize (default: 1)")  # fmt: skip
    p.add_argument("--cpus-per-speaker-replica", type=float, default=None, metavar="N",
                   help="CPUs per speaker replica; its PyTorch runs that many threads (default: 1)")  # fmt: skip


def speaker_sizing_given(args: argparse.Namespace) -> list[str]:
    """The speaker sizing options given on the command line."""
    names = (("--speaker-replicas", args.speaker_replicas),
             ("--cpus-per-speaker-replica", args.cpus_per_speaker_replica))  # fmt: skip
    return [name for name, value in names if value is not None]


def speaker_sizing(args: argparse.Namespace) -> speakers.SpeakerReplicas | None:
    """The speaker deployment asked for: ``None`` without ``--diarize``.

    Raises:
        OptionError: speaker sizing without ``--diarize``, or a bad size.
    """
    given = speaker_sizing_given(args)
    if not diarize.wanted(args):
        if given:
            raise OptionError(f"{', '.join(given)} need{'s' if len(given) == 1 else ''} --diarize")
        return None
    d = speakers.SpeakerReplicas()
    return speakers.SpeakerReplicas(
        d.replicas if args.speaker_replicas is None else args.speaker_replicas,
        d.cpus_per_replica if args.cpus_per_speaker_replica is None else args.cpus_per_speaker_replica,
    )


def sizing_given(args: argparse.Namespace) -> list[str]:
    """The sizing options given on the command line."""
    names = (("--asr-replicas", args.asr_replicas), ("--cpus-per-replica", args.cpus_per_replica),
             ("--gpus-per-replica", args.gpus_per_replica))  # fmt: skip
    return [name for name, value in names if value is not None]


def sizing(args: argparse.Namespace) -> AsrReplicas:
    """The replica sizing asked for (checked by :class:`AsrReplicas`, before any cluster starts).

    Raises:
        OptionError: GPUs on ``--device cpu``, no CPUs per replica.
    """
    d = AsrReplicas()
    gpus = d.gpus_per_replica if args.gpus_per_replica is None else args.gpus_per_replica
    cpus = d.cpus_per_replica if args.cpus_per_replica is None else args.cpus_per_replica
    if gpus > 0 and args.device == "cpu":
        raise OptionError("--gpus-per-replica needs --device cuda (or auto)")
    replicas = None if args.asr_replicas == "auto" else (args.asr_replicas or d.replicas)
    return AsrReplicas(replicas, cpus, gpus)


def model_settings(args: argparse.Namespace) -> ModelSettings:
    """The ASR models asked for (names checked here, without loading them)."""
    check_name(args.model or default_model())
    if args.draft_model is not None:
        check_name(args.draft_model)
    return ModelSettings(
        model=args.model, device=args.device, compute_type=args.compute_type, draft_model=args.draft_model,
        draft=draft.draft_settings(args), draft_policy=args.draft_policy,
    )  # fmt: skip


def _add_gateway(config: dict[str, Any], args: argparse.Namespace, asr: AsrReplicas, diarize: bool) -> bool:
    """Add the gateway application and Serve's proxy address to ``config`` when
    ``--gateway-replicas`` asks for it; whether it did.

    Raises:
        OptionError: gateway options without ``--gateway-replicas``, or bad values.
    """
    given = [name for name, value in (("--host", args.host), ("--port", args.port),
             ("--max-sessions", args.max_sessions), ("--allow-origin", args.allow_origin),
             ("--require-token", args.require_token)) if value]  # fmt: skip
    if args.gateway_replicas is None:
        if given:
            raise OptionError(f"{', '.join(given)} need{'s' if len(given) == 1 else ''} --gateway-replicas")
        return False
    d = ServerConfig()
    if args.max_sessions is not None and args.max_sessions < 1:
        raise OptionError("--max-sessions must be at least 1")
    server = ServerConfig(
        max_sessions=args.max_sessions or d.max_sessions, allowed_origins=tuple(args.allow_origin or ()),
        workers=max(2, asr.replicas or 8), web_root=Path("packaged"),
    )  # fmt: skip
    gateway_args = {**gateway.app_args(server, diarize), "token_required": args.require_token}
    config["applications"].append(gateway.app_config(gateway_args, gateway.GatewayReplicas(args.gateway_replicas)))
    config["proxy_location"] = "EveryNode"
    config["http_options"] = {"host": args.host or d.host, "port": d.port if args.port is None else args.port}
    return True


def _replicas(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a whole number or auto") from None
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    """Print (or write) the config, checked against Ray Serve's own schema."""
    try:
        import yaml  # type: ignore[import-untyped]
        from ray.serve.schema import ServeDeploySchema
    except ImportError as e:
        raise ModelError("ray-config needs Ray Serve: install voicestream's 'ray' extra (uv sync --extra ray)") from e
    speaker_sizes = speaker_sizing(args)
    speaker_app = None if speaker_sizes is None else speakers.app_config(args.diarize_model, speaker_sizes)
    asr_sizing = sizing(args)
    config = serve_config(model_settings(args), asr_sizing, speaker_app)
    with_gateway = _add_gateway(config, args, asr_sizing, speaker_app is not None)
    ServeDeploySchema.model_validate(config)  # what `serve deploy` will accept
    then = (
        "# Serve's proxy then serves the websockets, the page, /info and /metrics on http_options'\n"
        "# address (the gateway application; a token in $VOICESTREAM_TOKEN of its nodes).\n"
        if with_gateway
        else "# `voicestream serve --ray --no-deploy --address auto` as the gateway (docs/cluster.md).\n"
    )
    text = (
        "# voicestream's ASR replicas on Ray Serve: `serve deploy` this file"
        + (".\n" if with_gateway else ", then run\n")
        + then
        + "# Every node needs voicestream installed; each replica runs as many Whisper threads as\n"
        "# its ray_actor_options.num_cpus; autoscaling stays within min_replicas..max_replicas.\n"
        "# Speaker replicas (with --diarize) read a hub pipeline's $HF_TOKEN from their node.\n"
    ) + yaml.safe_dump(config, sort_keys=False)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text)
    except OSError as e:
        raise OutputError(f"cannot write {args.output}: {e.strerror or e}") from None
    print(f"voicestream: wrote {args.output}", file=sys.stderr)
    return 0
