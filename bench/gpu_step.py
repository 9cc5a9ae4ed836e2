"""Our engine on the GPU (CuPy) next to our CPU engine and PyTorch CUDA, side by side.

    python bench/gpu_step.py                    # both nets, every side that this machine has
    python bench/gpu_step.py --quick            # a smoke run: few steps, small epochs
    python bench/gpu_step.py --nets 3072-1000-1000-10
    python bench/gpu_step.py --launches         # no GPU needed: CuPy calls per step, counted

Two measures for 3072-1000-1000-10 at batch 256 and a wide 3072-4096-4096-10
at batch 1024 (CIFAR-10-sized inputs), float32:

- step: one training step (forward, softmax loss with its reg term, backward
  with reg's gradient, momentum update) on a fixed batch already on the
  device, as in bench/engine_step.py. Both sides do the same work and read
  each step's loss back to the host the same way: a step late, through pinned
  memory, after the next step is queued (ours: engine/steps.py, as the
  trainer does; torch: a non-blocking copy and a CUDA event). Milliseconds
  per step, the median of --reps blocks, each block timed between two device
  synchronisations.
- epoch: end-to-end seconds per epoch of the Trainer (ours: exactly what
  `tui-trainer run` does, shuffled mini-batches, the ratio statistics every
  10 steps and the two accuracies at the epoch's end) on a synthetic data set
  of --examples rows; torch: the same loop written plainly (shuffle, gather,
  step, loss.item(), the two accuracies), without the ratio statistics. The
  second epoch is timed, so start-up costs (CUDA context, kernels compiled on
  first use, cuBLAS handles) are not counted.

Sides: "ours cpu" (NumPy on this machine's cores, threads as `tui-trainer
run` sets them), "ours gpu" (train.device = "gpu": CuPy), "torch cuda" (where PyTorch
with CUDA is installed; its float32 matmuls in IEEE float32, no TF32, as
CuPy's: torch.backends.cuda.matmul.fp32_precision = "ieee", the setting that
replaced allow_tf32 in torch 2.9).
A side this machine lacks is left out and the reason printed.

Before timing, ours on the GPU and ours on the CPU must agree on 5 steps'
losses from the same weights, and torch on the GPU with ours on the CPU.

--launches counts, instead of timing, what one of our GPU steps asks of CuPy:
kernels, uploads, downloads and syncs, through the stand-in tests/fake_cupy.py
(NumPy underneath, CuPy's costs counted as CuPy incurs them), on any machine.
At 10-15 us of host time per launch, the kernel count bounds the step of the
small net from below.

Targets (issue 14): the GPU step of 3072-1000-1000-10 @256 within 1.5x of
PyTorch CUDA's, and at least 10x faster than our CPU engine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui_trainer.threads import apply_training_blas_threads  # noqa: E402

# Our CPU side trains as `tui-trainer run` does: every core for the BLAS and
# the update's blocks (threads.py's headless policy), set before NumPy loads.
apply_training_blas_threads("headless")

import numpy as np  # noqa: E402

from tui_trainer.config import Preset  # noqa: E402
from tui_trainer.datasets.base import Dataset  # noqa: E402
from tui_trainer.engine import Trainer  # noqa: E402
from tui_trainer.engine.backend import CPU, Backend, find_gpu  # noqa: E402
from tui_trainer.engine.events import Epoch  # noqa: E402
from tui_trainer.engine.kernels import load  # noqa: E402
from tui_trainer.engine.model import FullyConnectedNet  # noqa: E402
from tui_trainer.engine.optim import Momentum  # noqa: E402
from tui_trainer.engine.steps import Steps  # noqa: E402
from tui_trainer.threads import blas_threads  # noqa: E402

NETS = {
    "3072-1000-1000-10": ((3072, 1000, 1000, 10), 256),
    "3072-4096-4096-10": ((3072, 4096, 4096, 10), 1024),
}
TARGET_NET = "3072-1000-1000-10"
TARGET_VS_TORCH, TARGET_VS_CPU = 1.5, 10.0
# A small rate: unit-variance CIFAR-sized inputs with momentum 0.9 diverge at
# 1e-3 (lr * |x|^2 / (1 - mu) is about 30); a step's cost does not depend on it.
LR, MU, REG = 1e-5, 0.9, 1e-3
CLASSES = 10


# --- the sides that this machine has ----------------------------------------------


def torch_cuda():
    """(torch, "") when PyTorch with a CUDA device is installed, else (None, why not)."""
    try:
        import torch
    except ImportError:
        return None, "PyTorch is not installed"
    if not torch.cuda.is_available():
        return None, f"PyTorch {torch.__version__} sees no CUDA device"
    torch.backends.cuda.matmul.fp32_precision = "ieee"  # float32 math, as CuPy's default
    return torch, ""


# --- one step -------------------------------------------------------------------


def make_ours(dims, X, y, backend: Backend):
    """(net, step, losses): step() takes one training step as the trainer does
    (engine/steps.py; on a GPU, its loss read after the next step is queued);
    losses() reads what is pending and returns every step's loss so far."""
    net = FullyConnectedNet(dims[0], dims[1:-1], dims[-1], init="he", seed=0, backend=backend)
    opt = Momentum(LR, MU)
    opt.threads = blas_threads() if backend.on_host else 1  # as the trainer sets it
    steps = Steps(net, opt, REG)
    Xd, yd = backend.to_device(X), backend.to_device(y)
    done: list[float] = []
    pending: list = []

    def settle() -> None:
        done.append(pending.pop()())
        steps.update()

    def step() -> None:
        read = steps.launch(Xd, yd)
        if pending:
            settle()
        pending.append(read)
        if not steps.deferred:
            settle()

    def losses() -> list[float]:
        if pending:
            settle()
        return done

    return net, step, losses


def make_torch(torch, dims, X, y, params):
    """(model, step, losses) as make_ours, in torch: the same loss (reg's term
    included), the same update (reg's gradient by weight_decay), the same read."""
    import torch.nn.functional as F

    dev = torch.device("cuda")
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:]), start=1):
        lin = torch.nn.Linear(fan_in, fan_out)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(params[f"W{i}"].T.copy()))
            lin.bias.copy_(torch.from_numpy(params[f"b{i}"]))
        layers += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).to(dev)
    weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    biases = [m.bias for m in model if isinstance(m, torch.nn.Linear)]
    # The engine regularizes weights, not biases: the same here.
    opt = torch.optim.SGD(
        [{"params": weights, "weight_decay": REG}, {"params": biases, "weight_decay": 0.0}], lr=LR, momentum=MU
    )
    xt, yt = torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)
    slots = torch.empty(2, dtype=torch.float64, pin_memory=True)
    copied = [torch.cuda.Event(), torch.cuda.Event()]
    done: list[float] = []
    pending: list[int] = []

    def step(xb=None, yb=None) -> None:
        """One step on the batch (default: the fixed one); the step before's loss is read after it is queued."""
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xt if xb is None else xb), yt if yb is None else yb)
        loss.backward()
        with torch.no_grad():  # reg's term of the loss, as ours reports it (its gradient: weight_decay)
            norms = torch.stack([torch.linalg.vector_norm(w) for w in weights]).double()
            total = loss.double() + 0.5 * REG * norms.pow(2).sum()
        opt.step()
        slot = (len(done) + len(pending)) % 2
        slots[slot : slot + 1].copy_(total.reshape(1), non_blocking=True)
        copied[slot].record()
        if pending:
            read(pending.pop())
        pending.append(slot)

    def read(slot: int) -> None:
        copied[slot].synchronize()
        done.append(float(slots[slot]))

    def losses() -> list[float]:
        if pending:
            read(pending.pop())
        return done

    return model, step, losses


def agree(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / abs(x) for x, y in zip(a, b))


def check_same_step(dims, X, y, gpu: Backend | None, torch) -> list[str]:
    """Ours on the GPU against ours on the CPU, and torch against ours: 5 steps from the same weights."""
    lines = []
    _, cpu_step, cpu_losses = make_ours(dims, X, y, CPU)
    for _ in range(5):
        cpu_step()
    if gpu is not None:
        _, gpu_step, gpu_losses = make_ours(dims, X, y, gpu)
        for _ in range(5):
            gpu_step()
        diff = agree(cpu_losses(), gpu_losses())
        lines.append(f"ours gpu vs ours cpu, 5 steps' losses: rel. diff {diff:.1e}")
        if diff > 1e-3:
            raise SystemExit(f"ours on the GPU and on the CPU disagree (rel. diff {diff:.1e}): not the same step")
    if torch is not None:
        params = FullyConnectedNet(dims[0], dims[1:-1], dims[-1], init="he", seed=0).copy_params()
        _, t_step, t_losses = make_torch(torch, dims, X, y, params)
        for _ in range(5):
            t_step()
        diff = agree(cpu_losses(), t_losses())
        lines.append(f"torch cuda vs ours cpu, 5 steps' losses: rel. diff {diff:.1e}")
        if diff > 1e-3:
            raise SystemExit(f"torch and ours disagree (rel. diff {diff:.1e}): not the same step")
    return lines


def time_steps(step, sync, reps: int, block_s: float) -> float:
    """Median milliseconds per step over `reps` blocks of about block_s seconds each."""
    for _ in range(3):  # warm up: kernels compiled or loaded, the memory pool filled
        step()
    sync()
    t0 = time.perf_counter()
    step()
    sync()
    per_step = max(time.perf_counter() - t0, 1e-6)
    n = max(1, int(block_s / per_step))
    times = []
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        sync()
        times.append((time.perf_counter() - t0) * 1e3 / n)
    return statistics.median(times)


def count_launches(dims, batch: int, steps: int = 3) -> dict[str, int]:
    """What one step in the steady state asks of CuPy, counted by the stand-in."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from fake_cupy import FakeCupy

    fake = FakeCupy(memory=64 * 2**30)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, dims[0]), dtype=np.float32)
    y = rng.integers(0, dims[-1], size=batch).astype(np.int64)
    kernels, _ = load(fake)  # as find_gpu loads them for a GPU
    _, step, _ = make_ours(dims, X, y, Backend("gpu", fake, kernels=kernels))
    for _ in range(steps - 1):  # buffers and state allocated, the pipeline full
        step()
    before = fake.counts()
    step()
    return {k: v - before[k] for k, v in fake.counts().items()}


# --- one epoch ------------------------------------------------------------------


def synthetic(examples: int, val: int, dim: int, seed: int = 0) -> Dataset:
    """CIFAR-sized random inputs whose label is a linear teacher's argmax: learnable, so no run explodes."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((examples + val, dim), dtype=np.float32)
    teacher = rng.standard_normal((dim, CLASSES)).astype(np.float32) / np.sqrt(dim)
    y = (X @ teacher).argmax(axis=1).astype(np.int64)
    empty = np.empty((0, dim), np.float32)
    return Dataset(
        "synthetic", X[:examples], y[:examples], X[examples:], y[examples:], empty, np.empty(0, np.int64), CLASSES
    )


def epoch_preset(dims, batch: int, data: Dataset, device: str) -> Preset:
    return Preset(name="gpu-bench").replace(
        **{
            "model.hidden": list(dims[1:-1]),
            "model.init": "he",
            "train.batch_size": batch,
            "train.learning_rate": LR,
            "train.momentum": MU,
            "train.reg": REG,
            "train.epochs": 2,
            "train.device": device,
            "data.num_train": int(data.X_train.shape[0]),
            "data.num_val": int(data.X_val.shape[0]),
        }
    )


def ours_epoch_s(dims, batch: int, data: Dataset, device: str) -> float:
    """Seconds from the end of epoch 1 to the end of epoch 2 of a real Trainer run."""
    ends: list[float] = []
    trainer = Trainer(
        epoch_preset(dims, batch, data, device), data, lambda e: isinstance(e, Epoch) and ends.append(e.elapsed_s)
    )
    ended = trainer.run()
    if ended.status != "finished" or len(ends) < 2:  # say so, and let the other sides be measured
        print(f"  ours {device}: the run ended {ended.status}: {ended.reason}\n{trainer.traceback}".rstrip())
        return float("nan")
    return ends[1] - ends[0]


def torch_epoch_s(torch, dims, batch: int, data: Dataset) -> float:
    """The same epoch as the Trainer's, written plainly in torch on the GPU; the second one timed.
    Its steps are make_torch's: the same loss with reg's term, read a step late."""
    params = FullyConnectedNet(dims[0], dims[1:-1], dims[-1], init="he", seed=0).copy_params()
    model, step, losses = make_torch(torch, dims, data.X_train[:batch], data.y_train[:batch], params)
    dev = torch.device("cuda")
    X, y = torch.from_numpy(data.X_train).to(dev), torch.from_numpy(data.y_train).to(dev)
    Xv, yv = torch.from_numpy(data.X_val).to(dev), torch.from_numpy(data.y_val).to(dev)
    n = X.shape[0]
    rng = np.random.default_rng(0)
    sub = torch.from_numpy(np.sort(rng.choice(n, size=min(n, 1000), replace=False))).to(dev)

    def accuracy(Xa, ya) -> float:
        with torch.no_grad():
            hits = sum(
                int((model(Xa[i : i + 1000]).argmax(1) == ya[i : i + 1000]).sum()) for i in range(0, len(ya), 1000)
            )
        return hits / len(ya)

    ends = []
    t0 = time.perf_counter()
    for _ in range(2):
        perm = torch.from_numpy(rng.permutation(n)).to(dev)
        for b in range(n // batch):
            idx = perm[b * batch : (b + 1) * batch]
            step(X.index_select(0, idx), y.index_select(0, idx))
        losses()  # the epoch's last loss read, as the trainer reads it before the accuracies
        accuracy(X[sub], y[sub])
        accuracy(Xv, yv)
        torch.cuda.synchronize()
        ends.append(time.perf_counter() - t0)
    return ends[1] - ends[0]


# --- the table ------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", nargs="*", default=list(NETS), choices=list(NETS), help="which nets (default: both)")
    ap.add_argument("--reps", type=int, default=7, help="timed blocks per side (default 7)")
    ap.add_argument("--block", type=float, default=0.5, help="seconds of steps per block (default 0.5)")
    ap.add_argument("--examples", type=int, default=20480, help="training examples of the timed epoch (default 20480)")
    ap.add_argument("--no-cpu", action="store_true", help="leave our CPU engine out (it is the slow side)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 blocks of 0.05 s, 2048 examples")
    ap.add_argument("--launches", action="store_true", help="count our GPU step's CuPy calls (no GPU needed)")
    args = ap.parse_args(argv)
    if args.launches:
        for name in args.nets:
            dims, batch = NETS[name]
            counts = count_launches(dims, batch)
            print(f"{name} @{batch}, one step: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        return 0
    if args.quick:
        args.reps, args.block, args.examples = 2, 0.05, 2048

    gpu, gpu_missing = find_gpu()
    torch, torch_missing = torch_cuda()
    print(f"numpy {np.__version__}, {os.cpu_count()} cores (ours cpu: {blas_threads()} BLAS and update threads)")
    if gpu is not None:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        print(f"cupy {cupy.__version__}: {props['name'].decode()}, {gpu.memory_bytes() / 2**30:.0f} GiB")
    else:
        print(f"ours gpu: left out: {gpu_missing}")
    if torch is not None:
        print(f"torch {torch.__version__}: {torch.cuda.get_device_name(0)} (float32 matmuls in IEEE float32)")
    else:
        print(f"torch cuda: left out: {torch_missing}")
    sync_gpu = gpu.synchronize if gpu is not None else lambda: None

    rng = np.random.default_rng(0)
    steps: dict[str, dict[str, float]] = {}
    epochs: dict[str, dict[str, float]] = {}
    for name in args.nets:
        dims, batch = NETS[name]
        X = rng.standard_normal((batch, dims[0]), dtype=np.float32)
        y = rng.integers(0, dims[-1], size=batch).astype(np.int64)
        print(f"\n{name} @{batch}")
        for line in check_same_step(dims, X, y, gpu, torch):
            print(f"  {line}")
        m: dict[str, float] = {}
        if not args.no_cpu:
            m["ours cpu"] = time_steps(make_ours(dims, X, y, CPU)[1], lambda: None, args.reps, args.block)
        if gpu is not None:
            m["ours gpu"] = time_steps(make_ours(dims, X, y, gpu)[1], sync_gpu, args.reps, args.block)
        if torch is not None:
            _, t_step, _ = make_torch(torch, dims, X, y, make_ours(dims, X, y, CPU)[0].copy_params())
            m["torch cuda"] = time_steps(t_step, torch.cuda.synchronize, args.reps, args.block)
        steps[name] = m
        print("  step ms: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))

        data = synthetic(args.examples, 1000, dims[0])
        e: dict[str, float] = {}
        if not args.no_cpu:
            e["ours cpu"] = ours_epoch_s(dims, batch, data, "cpu")
        if gpu is not None:
            e["ours gpu"] = ours_epoch_s(dims, batch, data, "gpu")
            gpu.free_memory()
        if torch is not None:
            e["torch cuda"] = torch_epoch_s(torch, dims, batch, data)
        epochs[name] = e
        print(f"  epoch s ({args.examples} examples): " + ", ".join(f"{k} {v:.3f}" for k, v in e.items()))

    sides = ["ours cpu", "ours gpu", "torch cuda"]
    print(f"\n{'':<24}" + "".join(f"{s:>12}" for s in sides) + f"{'gpu/torch':>11}{'cpu/gpu':>9}")
    for label, table, unit in (("step ms", steps, ""), ("epoch s", epochs, "")):
        for name in args.nets:
            m = table[name]
            cells = "".join(f"{m[s]:>12.3f}" if s in m else f"{'-':>12}" for s in sides)
            vs_torch = (
                f"{m['ours gpu'] / m['torch cuda']:>10.2f}x" if {"ours gpu", "torch cuda"} <= m.keys() else f"{'-':>11}"
            )
            vs_cpu = f"{m['ours cpu'] / m['ours gpu']:>8.1f}x" if {"ours gpu", "ours cpu"} <= m.keys() else f"{'-':>9}"
            print(f"{label + ' ' + name:<24}{cells}{vs_torch}{vs_cpu}{unit}")

    m = steps.get(TARGET_NET, {})
    if {"ours gpu", "torch cuda", "ours cpu"} <= m.keys():
        r_torch, r_cpu = m["ours gpu"] / m["torch cuda"], m["ours cpu"] / m["ours gpu"]
        met = r_torch <= TARGET_VS_TORCH and r_cpu >= TARGET_VS_CPU
        print(
            f"\ntargets for {TARGET_NET}: gpu step <= {TARGET_VS_TORCH}x torch cuda ({r_torch:.2f}x), "
            f">= {TARGET_VS_CPU:g}x faster than ours cpu ({r_cpu:.1f}x): {'met' if met else 'NOT met'}"
        )
        return 0 if met else 1
    print(f"\ntargets for {TARGET_NET}: not judged here (they need ours cpu, ours gpu and torch cuda side by side)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
