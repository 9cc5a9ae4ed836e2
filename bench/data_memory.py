"""Peak memory of loading and preprocessing a CIFAR-10-sized training set.

    python bench/data_memory.py

Writes the five training batches and the test batch in the real format
(Python 2 pickles, 10,000 random 32x32x3 images each) to a temporary folder,
then in a fresh interpreter loads them with data.preprocess = ["mean"] and a
49,000 / 1,000 / 1,000 split, and reports the peak resident memory
(ru_maxrss) above that of an interpreter with NumPy imported, as a ratio to
the float32 size of the training split (49,000 x 3072 x 4 bytes).
Target (issue 3): at most 1.3x.

The same measurement without freeing the source batches as they are copied
(split_and_preprocess(..., consume=False)) is printed beside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NUM_TRAIN, NUM_VAL, NUM_TEST = 49_000, 1_000, 1_000
TARGET = 1.3

CHILD = r"""
import json, resource, sys, time
import numpy as np
base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from tui_trainer.config import DataConfig
from tui_trainer.datasets import load_dataset, load_raw, split_and_preprocess
cfg = DataConfig(dataset="cifar10", path=sys.argv[1], num_train=%d, num_val=%d, num_test=%d, preprocess=("mean",))
t0 = time.perf_counter()
if sys.argv[2] == "consume":
    data = load_dataset(cfg)
else:
    data = split_and_preprocess(load_raw(cfg), cfg, consume=False)
elapsed = time.perf_counter() - t0
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kb": base_kb, "peak_kb": peak_kb, "seconds": elapsed,
                  "train_shape": list(data.X_train.shape), "train_mean": float(abs(data.X_train.mean()))}))
""" % (NUM_TRAIN, NUM_VAL, NUM_TEST)  # noqa: UP031 (the child code is full of braces)


def write_batches(folder: Path) -> None:
    """Runs in its own process (`--write FOLDER`): on Linux a child inherits its parent's
    resident size into ru_maxrss across exec, so this parent stays lean (no NumPy)."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "tests"))
    from realformats import cifar_batch_bytes, cifar_images, cifar_meta_bytes

    rng = np.random.default_rng(0)
    for k in range(1, 6):
        data, labels = cifar_images(10_000, rng)
        (folder / f"data_batch_{k}").write_bytes(cifar_batch_bytes(data, labels, b"training batch %d of 5" % k))
    data, labels = cifar_images(10_000, rng)
    (folder / "test_batch").write_bytes(cifar_batch_bytes(data, labels, b"testing batch 1 of 1"))
    (folder / "batches.meta").write_bytes(cifar_meta_bytes())


def measure(folder: Path, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), mode], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(out.stdout)


def main() -> int:
    float32_bytes = NUM_TRAIN * 3072 * 4
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cifar-10-batches-py"
        folder.mkdir()
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--write", str(folder)], check=True)
        print(
            f"wrote 5 training batches + test_batch ({sum(f.stat().st_size for f in folder.iterdir()) / 1e6:.0f} MB) "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        print(
            f"training split float32: {NUM_TRAIN} x 3072 x 4 = {float32_bytes / 2**20:.1f} MiB; "
            f"target peak <= {TARGET}x"
        )
        ok = True
        for mode, label in (
            ("consume", "load_dataset (batches freed as copied)"),
            ("keep", "split_and_preprocess(consume=False)"),
        ):
            r = measure(folder, mode)
            extra = (r["peak_kb"] - r["base_kb"]) * 1024
            ratio = extra / float32_bytes
            print(
                f"{label:42s} peak {extra / 2**20:7.1f} MiB above numpy-only baseline "
                f"({r['base_kb'] / 1024:.1f} MiB)  ratio {ratio:.3f}x  {r['seconds']:.1f}s"
            )
            if mode == "consume":
                ok = ratio <= TARGET
    print("PASS" if ok else "FAIL", f"(target {TARGET}x, load_dataset)")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_batches(Path(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
