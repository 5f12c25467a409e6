"""Model catalog and resolver, offline."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest

from voicestream import catalog
from voicestream.errors import ModelError


def test_embedded_models_resolve_offline() -> None:
    """tiny.en and base resolve to directories holding a CTranslate2 model."""
    for name in ("tiny.en", "base"):
        model = catalog.resolve(name, allow_download=False)
        assert (model.path / "model.bin").is_file()
        assert (model.path / "tokenizer.json").is_file()
        assert model.source.startswith("embedded:")


def test_default_model_is_base() -> None:
    """No name means base."""
    assert catalog.default_model() == "base"
    assert catalog.resolve(None).name == "base"


def test_base_is_assembled_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """base's split model.bin is concatenated once into the cache, matching size and sha256."""
    monkeypatch.setenv("VOICESTREAM_CACHE", str(tmp_path))
    model = catalog.resolve("base")
    assert model.path.is_relative_to(tmp_path)
    blob = (model.path / "model.bin").read_bytes()
    assert len(blob) == 145_217_607
    assert hashlib.sha256(blob).hexdigest().startswith("905e5bf8336b")
    mtime = (model.path / "model.bin").stat().st_mtime_ns
    assert catalog.resolve("base").path == model.path
    assert (model.path / "model.bin").stat().st_mtime_ns == mtime, "assembled twice"


def test_corrupt_assembly_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A part that does not match the manifest's checksum gives a clear error and no cache dir."""
    monkeypatch.setenv("VOICESTREAM_CACHE", str(tmp_path))
    entry = dict(catalog._manifest()["embedded"]["base"])
    entry["sha256"] = "0" * 64
    with pytest.raises(ModelError, match="failed its check"):
        catalog._resolve_embedded("base", entry)
    assert not any((tmp_path / "models").glob("base-*"))


def test_local_directory_resolves(tmp_path: Path) -> None:
    """A directory with model.bin is a model; one without it is a clear error."""
    src = catalog.resolve("tiny.en").path
    local = tmp_path / "my-model"
    shutil.copytree(src, local)
    assert catalog.resolve(str(local)).source == "local"
    (local / "model.bin").unlink()
    with pytest.raises(ModelError, match=r"no model\.bin"):
        catalog.resolve(str(local))


def test_unknown_name_lists_choices() -> None:
    """A name that is neither embedded, a path, an alias nor a repo id is rejected with choices."""
    with pytest.raises(ModelError, match=r"unknown model 'nonsense'.*tiny.en, base"):
        catalog.resolve("nonsense")


@pytest.mark.network("asks for a hub model offline: one look-up, then a model error")
def test_hub_model_offline_fails_fast_and_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A hub model that is not cached fails with one line naming the offline alternatives."""
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(ModelError, match=r"large-v3.*Systran/faster-whisper-large-v3.*tiny.en, base"):
        catalog.resolve("large-v3")
    assert time.monotonic() - started < 60, "offline failure must not hang"


def test_list_marks_availability() -> None:
    """The list shows the embedded models available and hub models with their repo."""
    rows = {r.name: r for r in catalog.list_models()}
    assert rows["tiny.en"].available and rows["base"].available
    assert "Systran/faster-whisper-large-v3" in rows["large-v3"].source
