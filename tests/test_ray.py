"""``voicestream transcribe --ray``: a batch on a real (local) Ray cluster, with workers that
die mid-file."""

from __future__ import annotations

import csv
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_wer import wer
from voicestream.asr import DecodeOptions
from voicestream.cluster.files import WORKER_DIED, FileWorker, RaySettings, run_on_ray
from voicestream.files.inputs import plan
from voicestream.files.transcriber import FileSettings, ModelSettings

pytestmark = [
    pytest.mark.models,
    pytest.mark.slow,
    pytest.mark.network(
        "Ray's dashboard asks the cloud metadata addresses (169.254.169.254, metadata.google.internal) "
        "which cloud it runs on at every cluster start, whatever RAY_USAGE_STATS_ENABLED says (docs/reliability.md)"
    ),
]


class DyingWorker(FileWorker):
    """Records each attempt at a file in ``$VOICESTREAM_TEST_ATTEMPTS`` (a folder every
    worker sees) and kills its own process, as a crash would, on the first attempt at a
    file named ``dies_once*`` and on every attempt at ``dies_always*``."""

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        folder = Path(os.environ["VOICESTREAM_TEST_ATTEMPTS"])
        for name in batch["name"]:
            marker = folder / Path(str(name)).name
            attempts = int(marker.read_text()) + 1 if marker.exists() else 1
            marker.write_text(str(attempts))
            if Path(str(name)).name.startswith("dies_always") or (
                Path(str(name)).name.startswith("dies_once") and attempts == 1
            ):
                os._exit(1)
        return super().__call__(batch)


@pytest.fixture
def ray_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    ray = pytest.importorskip("ray")
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    monkeypatch.setenv("VOICESTREAM_TEST_ATTEMPTS", str(attempts))
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield attempts
    ray.shutdown()


def test_a_batch_on_ray_survives_dying_workers_and_bad_files(data: Path, tmp_path: Path, ray_cluster: Path) -> None:
    """Five LibriSpeech utterances and a corrupt file on two actors: one file's worker dies
    on its first attempt (the file is redone once and written), one file's worker dies on
    every attempt (reported failed after two attempts, not retried for ever), the corrupt
    file fails once with its decode error; every other file is written with its speech."""
    with (data / "read_speech_en" / "refs.tsv").open(newline="") as f:
        refs = {row["file"]: row["reference"] for row in csv.DictReader(f, delimiter="\t")}
    names = sorted(refs)[:5]
    lib = tmp_path / "lib"
    lib.mkdir()
    copies = {}
    for i, name in enumerate(names):
        copy = {1: "dies_once_", 3: "dies_always_"}.get(i, "") + name
        shutil.copy(data / "read_speech_en" / name, lib / copy)
        copies[copy] = refs[name]
    (lib / "broken.wav").write_bytes(b"RIFF\x00\x00not audio" * 50)
    out = tmp_path / "out"
    jobs = plan([str(lib)], ["srt", "txt"], out)
    models = ModelSettings(model="tiny.en")
    settings = FileSettings(decode=DecodeOptions(language="en"))
    results = run_on_ray(models, settings, jobs, ["srt", "txt"], RaySettings(workers=2), worker=DyingWorker)
    by_name = {r.name: r for r in results}
    attempts = {p.name: int(p.read_text()) for p in ray_cluster.iterdir()}
    print({n: (r.status, r.error) for n, r in by_name.items()}, attempts)
    assert [r.name for r in results] == [j.name for j in jobs]  # the jobs' order
    assert by_name["broken.wav"].status == "failed" and by_name["broken.wav"].exit_code == 4
    assert attempts["broken.wav"] == 1  # a bad file is not retried
    dies_once = next(n for n in copies if n.startswith("dies_once"))
    dies_always = next(n for n in copies if n.startswith("dies_always"))
    assert attempts[dies_once] == 2 and by_name[dies_once].status == "done"
    assert attempts[dies_always] == 2 and by_name[dies_always].status == "failed"
    assert by_name[dies_always].error == WORKER_DIED
    done = [n for n in copies if n != dies_always]
    assert all(by_name[n].status == "done" and attempts[n] == (2 if n == dies_once else 1) for n in done)
    hyps = [(out / n).with_suffix(".txt").read_text() for n in done]
    score = wer([copies[n] for n in done], hyps)
    print(f"WER on Ray {score:.2%}")
    assert score <= 0.09  # tiny.en, measured 6.0% on these four short clips (2.68% on all 16 in test_wer)
    assert not (out / dies_always).with_suffix(".srt").exists() and not list(out.glob("*.part"))
    # a second run skips what is written and tries the rest again
    again = run_on_ray(models, settings, jobs, ["srt", "txt"], RaySettings(workers=1), worker=DyingWorker)
    assert {r.name for r in again if r.status == "skipped"} == set(done)
