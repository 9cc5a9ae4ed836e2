"""How numbers read, in every face: one function per kind of number.

The headless commands, the search command and the workbench all print
accuracies, clocks, durations and hyperparameters; each kind is written here
once, so a value reads the same wherever it shows.
"""

from __future__ import annotations

import math

STAMP_LEN = len("20261124-171500-")


def accuracy(v: float | None) -> str:
    """0.914; '-' when there is none yet."""
    return "-" if v is None else f"{v:.3f}"


def clock(seconds: float | None) -> str:
    """0:07, 12:30, 1:02:03 (elapsed time, an ETA); '--' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "--"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def duration(seconds: float | None, fine: bool = False) -> str:
    """3.2s, 42s, 2m 05s, 2h 01m; '' when unknown. `fine`: hundredths below a
    second (search trials often take well under one)."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    if fine and seconds < 1:
        return f"{seconds:.2f}s"
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m"


def hyperparameter(v: float) -> str:
    """3 significant digits as people read hyperparameters: 1e-03, 3.16e-04, 0."""
    if v == 0:
        return "0"
    m, e = f"{v:.2e}".split("e")
    m = m.rstrip("0").rstrip(".")
    return f"{m}e{int(e):+03d}"


def short_number(v: float | None) -> str:
    """At most 7 characters, as people write them: 0.001, 0.0297, 2.97e-5, 0; '' for none."""
    if v is None:
        return ""
    text = f"{v:.3g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def compact(v: float, digits: int = 2, width: int | None = None) -> str:
    """A number people can scan in a column: 0, 0.012, 3.1e-5, -2.4e3.

    With `width`, drops significant digits (down to one) until it fits.
    """
    if v == 0:
        return "0"
    if v != v:
        return "nan"
    if v in (math.inf, -math.inf):  # a ratio of an exploded run, a hand-written threshold
        return "inf" if v > 0 else "-inf"
    while True:
        m, e = f"{v:.{digits - 1}e}".split("e")
        exp = int(e)
        text = f"{v:.{max(digits - 1 - exp, 0)}f}" if -2 <= exp <= 2 else f"{m}e{exp}"
        if width is None or len(text) <= width or digits == 1:
            return text
        digits -= 1


# A mean is the small difference of values about their root mean square in
# size, and float32 keeps about 7 digits of each (eps 1.2e-7), rounding at
# every step of a run. So the digits of a mean below 1e-5 of that rms are
# rounding, not training: they change with the CPU's BLAS kernel. Measured on
# tests/test_ui_snapshots.py's run (80 steps) under five OpenBLAS kernels and
# three NumPy SIMD levels: means differ by at most 1.4e-7 of their rms, and
# b2's mean (zero in exact arithmetic: softmax's gradient sums to zero over the
# classes) reads up to 4e-7 of it. The floor is 25x that and far below any mean
# that tells a user something (a drift of the weights, a biased update).
MEAN_FLOOR = 1e-5


def compact_mean(mean: float, std: float, digits: int = 2, width: int | None = None) -> str:
    """A mean at the precision it carries: '~0' below MEAN_FLOOR of the values'
    rms, otherwise `compact` with only the digits that stand above that floor
    (at least one): 4.99e-8 with std 4.3e-4 reads 5e-8."""
    floor = MEAN_FLOOR * math.hypot(mean, std)
    if mean == 0 or not math.isfinite(mean) or not math.isfinite(floor):
        return compact(mean, digits, width)
    if abs(mean) < floor:
        return "~0"
    # Significant digits whose last place is at least the floor.
    above = math.floor(math.floor(math.log10(abs(mean))) + 1 - math.log10(floor))
    return compact(mean, max(1, min(digits, above)), width)


def plural(n: int, word: str) -> str:
    """1 trial, 3 trials."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def short_run_name(name: str) -> str:
    """A run folder's name without its date and time: 20261124-171500-default-3f2a -> default-3f2a."""
    stamp = name[:STAMP_LEN]
    if len(name) > STAMP_LEN and stamp[:8].isdigit() and stamp[8] == "-" and stamp[9:15].isdigit():
        return name[STAMP_LEN:]
    return name
