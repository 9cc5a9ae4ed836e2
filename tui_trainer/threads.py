"""How many BLAS threads a process gets: one policy for every face, one for search workers.

On a 2-core box shared with a UI, an editor or another job, OpenBLAS threads
that outnumber the free cores spin and a step slows down many times over
(measured: a 3072-500-10 step went from 10 ms to as much as 144 ms with one
busy competing process). So a training process gets one core fewer than the
machine has, at least one; a user's own OPENBLAS_NUM_THREADS, OMP_NUM_THREADS
or MKL_NUM_THREADS wins. A search worker gets one thread in every library,
whatever the user set: the pool runs one worker per core already, and a
one-thread trial gives the same result to the bit wherever it runs. Either
must be in the environment before NumPy is first imported, which is why this
module imports nothing heavy.
"""

from __future__ import annotations

import os

# The thread variables of OpenBLAS, OpenMP and MKL: the training policy's, and the user's to override it.
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# A search worker pins these too: Apple's Accelerate (vecLib) and NumExpr.
WORKER_ENV = BLAS_ENV + ("VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


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


def one_thread_env() -> dict[str, str]:
    """The variables to set for a search worker process: one thread in every library."""
    return {k: "1" for k in WORKER_ENV}


def apply_training_blas_threads() -> None:
    """Set the policy in this process's environment (before NumPy loads)."""
    os.environ.update(training_blas_env())
