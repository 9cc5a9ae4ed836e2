"""How many BLAS threads a process gets: one policy per face, one for search workers.

- A headless face (`run`, `check`, `lr-find`, `tune`'s own training) gets
  every core: on a quiet 2-core machine a 3072-500-10 step takes 9.5 ms with
  two OpenBLAS threads against 15 ms with one.
- The workbench's trainer gets one core fewer than the machine has (at least
  one): the app needs a core to answer keys and redraw, and two BLAS threads
  that share a core with a busy process spin; measured, with one busy process
  on a 2-core machine, a step's p95 went from 22-44 ms with one thread to
  100-143 ms with two (median about equal). A headless run is judged by its
  throughput, so it takes that risk; the workbench is judged by its keys too.
- A search worker gets one thread in every library, whatever the user set:
  the pool runs one worker per core already, and a one-thread trial gives the
  same result to the bit wherever it runs.

A user's own OPENBLAS_NUM_THREADS, OMP_NUM_THREADS or MKL_NUM_THREADS wins
over the first two. Either must be in the environment before NumPy is first
imported, which is why this module imports nothing heavy.
(Measured with bench/e2e_vs_torch.py and the step timings in the README.)
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


# How many cores each face that trains leaves its BLAS, from the machine's count.
FACES = {"headless": lambda n: n, "workbench": lambda n: max(1, n - 1)}


def blas_threads() -> int:
    """The BLAS's thread count as this process's environment sets it (the policy or the user), else 1."""
    for name in BLAS_ENV:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def training_blas_env(face: str = "headless") -> dict[str, str]:
    """The variables to set for a process that trains for `face`; {} when the user set their own."""
    if any(k in os.environ for k in BLAS_ENV):
        return {}
    n = str(FACES[face](cores()))
    return {k: n for k in BLAS_ENV}


def one_thread_env() -> dict[str, str]:
    """The variables to set for a search worker process: one thread in every library."""
    return {k: "1" for k in WORKER_ENV}


def apply_training_blas_threads(face: str = "headless") -> None:
    """Set the policy for `face` in this process's environment (before NumPy loads)."""
    os.environ.update(training_blas_env(face))
