"""The code base stays ruff-clean, ruff-formatted and mypy-strict clean."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


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
