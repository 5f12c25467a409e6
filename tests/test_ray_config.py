"""``voicestream ray-config`` and the Ray options of ``serve``: the config Ray Serve's own
schema accepts, its arguments read back into the same models, and each option error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import assert_one_line_error, voicestream
from voicestream.asr.speculative import DraftSettings
from voicestream.cluster.asr import APP_NAME, AsrReplicas, app_args, models_from_args, serve_config
from voicestream.cluster.gateway import APP_NAME as GATEWAY_APP
from voicestream.cluster.gateway import app_args as gateway_args
from voicestream.cluster.gateway import build_app, config_from_args
from voicestream.cluster.metrics import Decoded, ReplicaMetrics
from voicestream.cluster.speakers import APP_NAME as SPEAKER_APP
from voicestream.errors import OptionError
from voicestream.files.transcriber import ModelSettings
from voicestream.server.websocket import ServerConfig

schema = pytest.importorskip("ray.serve.schema", reason="the 'ray' extra")
yaml = pytest.importorskip("yaml")


def test_ray_config_is_a_serve_config_of_the_asked_replicas(tmp_path: Path) -> None:
    """The printed file is valid for ``serve deploy`` (Ray's schema), names the application
    builder, and carries the models and sizing asked for; ``-o`` writes the same text."""
    proc = voicestream(
        "ray-config", "--model", "tiny.en", "--draft-tokens", "3", "--asr-replicas", "3", "--cpus-per-replica", "2"
    )
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    deploy = schema.ServeDeploySchema.model_validate(config)
    (app,) = deploy.applications
    assert app.name == APP_NAME and app.import_path == "voicestream.cluster.asr:build_app"
    (deployment,) = app.deployments
    assert deployment.num_replicas == 3 and deployment.max_ongoing_requests == 1
    assert deployment.ray_actor_options.num_cpus == 2.0
    models = models_from_args(app.args)
    assert models.model == "tiny.en" and models.draft == DraftSettings(3, 1, 8)
    written = tmp_path / "asr.yaml"
    assert voicestream("ray-config", "--model", "tiny.en", "--draft-tokens", "3", "--asr-replicas", "3",
                       "--cpus-per-replica", "2", "-o", str(written)).returncode == 0  # fmt: skip
    assert written.read_text() == proc.stdout


def test_ray_config_with_speakers_adds_the_speaker_application() -> None:
    """``--diarize`` adds a second application, the speaker models' builder with the pipeline
    asked for and its sizing; Ray's schema accepts both."""
    proc = voicestream("ray-config", "--model", "tiny.en", "--diarize-model", "embedded", "--speaker-replicas", "2",
                       "--cpus-per-speaker-replica", "3")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    deploy = schema.ServeDeploySchema.model_validate(yaml.safe_load(proc.stdout))
    asr, speakers = deploy.applications
    assert asr.name == APP_NAME and speakers.name == SPEAKER_APP
    assert speakers.import_path == "voicestream.cluster.speakers:build_app"
    assert speakers.args == {"diarize_model": "embedded"}
    (deployment,) = speakers.deployments
    assert deployment.num_replicas == 2 and deployment.ray_actor_options.num_cpus == 3.0
    plain = yaml.safe_load(voicestream("ray-config", "--model", "tiny.en").stdout)
    assert [app["name"] for app in plain["applications"]] == [APP_NAME]


def test_ray_config_with_gateway_replicas_serves_through_serves_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--gateway-replicas`` adds the gateway application at ``/``, Serve's proxy on every node
    at the address asked for, and the gateway's limits as arguments that read back into the
    server's config; the token is never written: replicas read ``$VOICESTREAM_TOKEN``."""
    proc = voicestream("ray-config", "--model", "tiny.en", "--asr-replicas", "3", "--gateway-replicas", "2",
                       "--host", "0.0.0.0", "--port", "9000", "--max-sessions", "6", "--require-token",
                       "--allow-origin", "https://captions.example")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    deploy = schema.ServeDeploySchema.model_validate(config)
    assert config["proxy_location"] == "EveryNode" and config["http_options"] == {"host": "0.0.0.0", "port": 9000}
    asr, gateway = deploy.applications
    assert asr.name == APP_NAME and gateway.name == GATEWAY_APP and gateway.route_prefix == "/"
    assert gateway.import_path == "voicestream.cluster.gateway:build_app"
    (deployment,) = gateway.deployments
    assert deployment.num_replicas == 2 and deployment.max_ongoing_requests >= 6
    monkeypatch.setenv("VOICESTREAM_TOKEN", "t0ken")
    server, diarize = config_from_args(gateway.args)
    assert server.max_sessions == 6 and server.allowed_origins == ("https://captions.example",)
    assert server.token == "t0ken" and server.workers >= 3 and server.web_root is not None and not diarize
    assert "t0ken" not in proc.stdout
    monkeypatch.delenv("VOICESTREAM_TOKEN")
    with pytest.raises(OptionError, match="set \\$VOICESTREAM_TOKEN"):
        config_from_args(gateway.args)
    with pytest.raises(OptionError, match="unknown gateway arguments: port"):
        config_from_args({"port": 1})
    assert build_app(gateway.args) is not None  # the builder `serve deploy` runs
    assert gateway_args(ServerConfig(max_sessions=3, token="x"), True)["token_required"] is True


def test_autoscaled_replicas_and_gpus() -> None:
    config = serve_config(ModelSettings(model="base", device="cuda"), AsrReplicas(None, 4.0, 0.5))
    schema.ServeDeploySchema.model_validate(config)
    (deployment,) = config["applications"][0]["deployments"]
    assert deployment["autoscaling_config"]["min_replicas"] == 1 and "num_replicas" not in deployment
    assert deployment["ray_actor_options"] == {"num_cpus": 4.0, "num_gpus": 0.5}


def test_application_arguments_read_back() -> None:
    models = ModelSettings(model="base", draft_model="tiny", draft=DraftSettings(2, 2, 2), draft_policy="always")
    assert models_from_args(app_args(models)) == models
    assert models_from_args({}) == ModelSettings(draft=DraftSettings())
    with pytest.raises(OptionError, match="unknown ASR application arguments: beam"):
        models_from_args({"beam": 5})
    with pytest.raises(OptionError, match="draft_policy"):
        models_from_args({"draft_policy": "never"})
    with pytest.raises(OptionError, match="draft tokens"):
        models_from_args({"draft_min_tokens": 9})


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["ray-config", "--model", "no/such/model"], 6, "unknown model 'no/such/model'"),
        (["ray-config", "--gpus-per-replica", "1"], 2, "--gpus-per-replica needs --device cuda"),
        (["ray-config", "--cpus-per-replica", "0"], 2, "--cpus-per-replica must be above 0"),
        (["ray-config", "--asr-replicas", "0"], 2, "at least 1"),
        (["ray-config", "-o", "/nonexistent/dir/asr.yaml"], 8, "cannot write /nonexistent/dir/asr.yaml"),
        (["serve", "--asr-replicas", "2"], 2, "--asr-replicas needs --ray"),
        (["serve", "--no-deploy", "--address", "auto"], 2, "--address, --no-deploy need --ray"),
        (["serve", "--ray", "--no-deploy", "--cpus-per-replica", "2"], 2, "the deployed config sizes the replicas"),
        (["ray-config", "--speaker-replicas", "2"], 2, "--speaker-replicas needs --diarize"),
        (["ray-config", "--host", "0.0.0.0", "--port", "80"], 2, "--host, --port need --gateway-replicas"),
        (["ray-config", "--gateway-replicas", "0"], 2, "--gateway-replicas must be at least 1"),
        (["serve", "--gateway-replicas", "2"], 2, "--gateway-replicas needs --ray"),
        (["serve", "--ray", "--gateway-replicas", "2", "--port", "0"], 2, "--gateway-replicas needs a fixed --port"),
        (["serve", "--ray", "--no-deploy", "--gateway-replicas", "1"], 2, "--gateway-replicas with --no-deploy"),
        (["ray-config", "--diarize", "--speaker-replicas", "0"], 2, "--speaker-replicas must be at least 1"),
        (["serve", "--speaker-replicas", "2"], 2, "--speaker-replicas needs --ray"),
        (["serve", "--ray", "--cpus-per-speaker-replica", "2"], 2, "--cpus-per-speaker-replica needs --diarize"),
        (["serve", "--ray", "--diarize", "--hf-token", "x"], 2, "the speaker replicas read $HF_TOKEN"),
        (
            ["serve", "--ray", "--no-deploy", "--diarize", "--speaker-replicas", "2"],
            2,
            "with --no-deploy the deployed config sizes the speaker replicas",
        ),
    ],
)
def test_option_errors(args: list[str], code: int, message: str) -> None:
    """Each mistake is one line and its exit code, before any cluster is started."""
    proc = voicestream(*args)
    if code == 2 and "at least 1" in message:  # argparse's own usage error
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
        return
    assert_one_line_error(proc, code, message)


def test_replica_metrics_window_and_overhead() -> None:
    """Decodes are counted by replica; the window forgets replicas that stopped answering;
    the overhead is the round trip beyond the decode."""
    load = ReplicaMetrics(window_s=10.0)
    load.record(0.0, Decoded(pid=11, decode_s=1.0), round_trip_s=1.2)
    load.record(1.0, Decoded(pid=12, decode_s=2.0), round_trip_s=2.1)
    load.retried()
    now = load.summary(2.0)
    assert now["replicas_answering"] == 2 and now["calls"] == 2 and now["retries"] == 1
    assert now["busy"] == pytest.approx(3.0 / 20.0, abs=1e-3)
    assert 100.0 <= now["overhead_ms"]["p50"] <= 200.0 and now["calls_by_replica"] == {"11": 1, "12": 1}
    later = load.summary(10.5)  # replica 11's decode is out of the window
    assert later["replicas_answering"] == 1 and later["calls"] == 2
    assert ReplicaMetrics().summary(0.0)["overhead_ms"] == {"p50": 0.0, "p95": 0.0}
