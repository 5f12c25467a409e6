"""NumPy's BLAS runs on one thread in voicestream's processes (voicestream.blas)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _blas_threads(code: str) -> list[int]:
    probe = (
        f"{code}\nfrom threadpoolctl import threadpool_info\n"
        "print(*[p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return [int(n) for n in out.split()]


def _skip_unless_blas_runs_threads() -> None:
    before = _blas_threads("import numpy, scipy.linalg")
    if not before or max(before) < 2:
        pytest.skip("BLAS already runs one thread here (one core, or OPENBLAS_NUM_THREADS set)")


def test_one_blas_thread_limits_numpy_and_scipy_blas_loaded_before_and_after() -> None:
    _skip_unless_blas_runs_threads()
    # SciPy brings an OpenBLAS of its own, loaded after the call (the diarizer imports it late)
    threads = _blas_threads("from voicestream.blas import one_blas_thread; one_blas_thread(); import scipy.linalg")
    assert len(threads) >= 2 and set(threads) == {1}, threads


def test_the_command_line_limits_blas_before_running_a_command() -> None:
    _skip_unless_blas_runs_threads()
    code = (  # the command itself replaced by one that does nothing
        "import voicestream.cli as cli, voicestream.cli.doctor as doctor\n"
        "doctor.run = lambda args: 0\n"
        "assert cli.main(['doctor']) == 0"
    )
    assert set(_blas_threads(code)) == {1}
