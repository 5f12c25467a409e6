"""NumPy's BLAS on one thread.

NumPy ships OpenBLAS, which starts a thread per core and keeps those threads spinning for
a while after every matrix product (the mel filterbank of each Whisper window, word
alignment, clustering). In a process whose cores already run CTranslate2 and onnxruntime,
the spinning takes a core from them: measured here (base, 87 s replayed live on one
inference thread) the process used 1.6 CPU s per encoder second with NumPy's default pool
and 1.0 with one BLAS thread, and one live session's server cost fell from 0.95 to 0.67
CPU s per audio second (benchmarks/load.py). NumPy's products here are small; one thread
loses nothing measurable.
"""

from __future__ import annotations

import functools
import os


@functools.cache
def one_blas_thread() -> None:
    """Limit NumPy's and SciPy's BLAS to one thread for the rest of the process (idempotent):
    the libraries loaded now through threadpoolctl, those loaded later (SciPy's own OpenBLAS,
    imported by the diarizer) through the environment they read when they load."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # not MKL's: CTranslate2 and PyTorch size their own
    import numpy  # noqa: F401  (its BLAS must be loaded for the limit to reach it)
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    threadpool_limits(limits=1, user_api="blas")
