"""The code base stays ruff-clean, ruff-formatted, mypy-strict clean, and layered."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT_IMPORTS = [
    sys.executable,
    "-c",
    "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
]


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "ruff", "check", "voicestream", "tests", "benchmarks"],
        [sys.executable, "-m", "ruff", "format", "--check", "voicestream", "tests", "benchmarks"],
        [sys.executable, "-m", "mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
@pytest.mark.slow
def test_tool_is_clean(argv: list[str]) -> None:
    """The tool exits 0 on the repository."""
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's contracts (pyproject.toml) checked on the ``voicestream`` package in ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(LINT_IMPORTS, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_layers_only_point_down() -> None:
    """The layers contract and the no-cycles contract hold (docs/architecture.md)."""
    proc = _lint_imports(REPO)
    assert proc.returncode == 0 and "0 broken" in proc.stdout, proc.stdout + proc.stderr


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    """A copy of the package where a root module imports the websocket server fails the check."""
    shutil.copytree(REPO / "voicestream", tmp_path / "voicestream", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    messages = tmp_path / "voicestream" / "messages.py"
    messages.write_text(
        messages.read_text() + "\n\ndef _upward() -> None:\n    from voicestream.server import protocol\n"
    )
    proc = _lint_imports(tmp_path)
    assert proc.returncode != 0 and "voicestream.messages -> voicestream.server.protocol" in proc.stdout, proc.stdout
