"""How many BLAS threads training gets: one policy for every face.

On a 2-core box shared with a UI, an editor or another job, OpenBLAS threads
that outnumber the free cores spin and a step slows down many times over
(measured: a 3072-500-10 step went from 10 ms to as much as 144 ms with one
busy competing process). So a training process gets one core fewer than the
machine has, at least one; a user's own OPENBLAS_NUM_THREADS, OMP_NUM_THREADS
or MKL_NUM_THREADS wins. It must be applied before NumPy is first imported,
which is why this module imports nothing heavy.
"""

from __future__ import annotations

import os

BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def training_blas_env() -> dict[str, str]:
    """The variables to set for a training process; {} when the user set their own."""
    if any(k in os.environ for k in BLAS_ENV):
        return {}
    n = str(max(1, cores() - 1))
    return {k: n for k in BLAS_ENV}


def apply_training_blas_threads() -> None:
    """Set the policy in this process's environment (before NumPy loads)."""
    os.environ.update(training_blas_env())
