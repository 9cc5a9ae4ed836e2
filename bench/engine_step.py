"""How fast is one training step of the NumPy engine, next to its floor and PyTorch?

    python bench/engine_step.py                 # all three nets, 2 threads
    python bench/engine_step.py --threads 1 --clock cpu   # steady on a busy machine
    python bench/engine_step.py --stat min                # the least disturbed block of each side

One step = forward, backward (softmax loss, reg > 0) and the momentum update,
on a fixed float32 batch, for 3072-50-10 at batch 200 and 3072-500-10 and
3072-1000-1000-10 at batch 256 (CIFAR-10-sized inputs). Each step is timed
side by side, in one process, with:

- floor: the same step's matrix multiplications alone, into preallocated
  outputs: x @ W per layer, dW = h.T @ d per layer, dh = d @ W.T for every
  layer but the first. No engine can do less work than this with this BLAS.
- torch: where PyTorch is installed (`pip install -e '.[bench]'`), the same
  step on the CPU in float32: nn.Linear, ReLU, F.cross_entropy and
  torch.optim.SGD(momentum=0.9), weight decay `reg` on the weights only, as in
  our loss (0.5 * reg * sum W**2). Beside it, for reference, torch's own
  matmul floor (the same matmuls through torch.mm): what torch's step stands on.

The sides run round-robin, a block of steps each, over several
repetitions, and the median ms per step is reported, so background load on a
shared machine hits every side alike; before each block the bench waits for
other processes to leave the cores quiet (--gate), since a two-thread BLAS
step runs 2-10x slower while another process holds a core. Both libraries use
the same number of threads (numpy's OpenBLAS through its own API,
torch.set_num_threads).

Before timing, the script checks that ours and torch compute the same step:
from the same weights, a few steps must give the same losses.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui_trainer.engine.model import FullyConnectedNet  # noqa: E402
from tui_trainer.engine.optim import Momentum  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the benchmark still measures ours against the floor
    torch = None

# (name, layer sizes, batch), as in issue 2.
NETS = [
    ("3072-50-10", (3072, 50, 10), 200),
    ("3072-500-10", (3072, 500, 10), 256),
    ("3072-1000-1000-10", (3072, 1000, 1000, 10), 256),
]
# Targets: (ours / torch, ours / floor) at most.
TARGETS = {"3072-50-10": (0.85, 1.3), "3072-500-10": (1.0, 1.3), "3072-1000-1000-10": (1.0, 1.3)}
LR, MU, REG = 1e-3, 0.9, 1e-3


# --- numpy's BLAS threads ------------------------------------------------------


def _openblas() -> tuple[ctypes.CDLL | None, str, str]:
    """The OpenBLAS library numpy loaded, with its symbol suffix, from /proc/self/maps."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None, "", ""
    paths = sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower() and ".so" in line})
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas_", "64_"), ("openblas_", "64_"), ("openblas_", "")):
            if hasattr(lib, f"{prefix}get_num_threads{suffix}"):
                return lib, prefix, suffix
    return None, "", ""


def blas_threads(set_to: int | None = None) -> tuple[str, int | None]:
    """(BLAS description, its thread count after optionally setting it)."""
    lib, prefix, suffix = _openblas()
    if lib is None:
        return "unknown BLAS", None
    if set_to is not None:
        setter = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
        if setter is not None:
            setter(ctypes.c_int(set_to))
    get_config = getattr(lib, f"{prefix}get_config{suffix}", None)
    desc = "OpenBLAS"
    if get_config is not None:
        get_config.restype = ctypes.c_char_p
        desc = get_config().decode()
    corename = getattr(lib, f"{prefix}get_corename{suffix}", None)
    if corename is not None:
        corename.restype = ctypes.c_char_p
        desc += f" (core {corename().decode()})"
    return desc, int(getattr(lib, f"{prefix}get_num_threads{suffix}")())


# --- the three sides -------------------------------------------------------------


def make_ours(dims, X, y):
    net = FullyConnectedNet(dims[0], dims[1:-1], dims[-1], init="he", seed=0)
    opt = Momentum(LR, MU)

    def step() -> float:
        loss = net.loss(X, y, reg=REG)
        opt.step(net.params, net.grads)
        return loss

    return net, step


def make_floor(dims, X, y, params):
    """The step's matmuls alone, into preallocated outputs."""
    n = X.shape[0]
    Ws = [params[f"W{i}"] for i in range(1, len(dims))]
    acts = [np.empty((n, m), np.float32) for m in dims[1:]]
    grads = [np.empty((n, m), np.float32) for m in dims[1:]]  # d loss / d layer output, stand-ins
    for g in grads:
        g.fill(1e-3)
    dWs = [np.empty_like(W) for W in Ws]

    def step() -> None:
        h = X
        for W, a in zip(Ws, acts):
            h = np.matmul(h, W, out=a)
        for i in range(len(Ws) - 1, -1, -1):
            x_in = acts[i - 1] if i > 0 else X
            np.matmul(x_in.T, grads[i], out=dWs[i])
            if i > 0:
                np.matmul(grads[i], Ws[i].T, out=grads[i - 1])

    return step


def make_torch_floor(dims, X, y, params):
    """The same matmuls as make_floor, through torch (MKL): what torch's own step stands on."""
    n = X.shape[0]
    xt = torch.from_numpy(X)
    Ws = [torch.from_numpy(params[f"W{i}"].copy()) for i in range(1, len(dims))]
    acts = [torch.empty((n, m)) for m in dims[1:]]
    grads = [torch.full((n, m), 1e-3) for m in dims[1:]]
    dWs = [torch.empty_like(W) for W in Ws]

    def step() -> None:
        h = xt
        for W, a in zip(Ws, acts):
            h = torch.mm(h, W, out=a)
        for i in range(len(Ws) - 1, -1, -1):
            x_in = acts[i - 1] if i > 0 else xt
            torch.mm(x_in.t(), grads[i], out=dWs[i])
            if i > 0:
                torch.mm(grads[i], Ws[i].t(), out=grads[i - 1])

    return step


def make_torch(dims, X, y, params):
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:]), start=1):
        lin = torch.nn.Linear(fan_in, fan_out)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(params[f"W{i}"].T.copy()))
            lin.bias.copy_(torch.from_numpy(params[f"b{i}"]))
        layers += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    biases = [m.bias for m in model if isinstance(m, torch.nn.Linear)]
    # The engine regularizes weights, not biases: the same here.
    opt = torch.optim.SGD(
        [{"params": weights, "weight_decay": REG}, {"params": biases, "weight_decay": 0.0}], lr=LR, momentum=MU
    )
    xt = torch.from_numpy(X)  # no requires_grad: no gradient for the input, as in ours
    yt = torch.from_numpy(y)

    def step() -> float:
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()

    return step


# --- measuring -------------------------------------------------------------------


def same_step(dims, X, y) -> float:
    """Largest relative difference of the losses over 5 steps, ours vs torch, from the same weights.

    The regularization term differs by design (torch's weight_decay adds reg * W
    to the gradient, it does not report 0.5 * reg * ||W||^2), so it is added here.
    """
    net, ours = make_ours(dims, X, y)
    t = make_torch(dims, X, y, net.copy_params())
    worst = 0.0
    for _ in range(5):
        reg_term = net.reg_loss(REG)
        a = ours()
        b = t() + reg_term
        worst = max(worst, abs(a - b) / abs(a))
    return worst


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def time_block(step, n: int) -> float:
    t0 = clock()
    for _ in range(n):
        step()
    return (clock() - t0) * 1e3 / n


def _cpu_busy(window: float) -> float | None:
    """Share of all cores busy over `window` seconds, from /proc/stat; None where unreadable."""

    def read():
        values = [int(v) for v in open("/proc/stat").readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        t1, idle1 = read()
        time.sleep(window)
        t2, idle2 = read()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle2 - idle1) / max(1, t2 - t1)


GATE = {"waited": 0, "ungated": 0, "blocks": 0, "budget_s": 180.0}  # total seconds of waiting allowed


def settle(seconds: float, gate: float | None) -> None:
    """Let the last side's idle worker threads go to sleep, then wait for a quiet moment.

    OpenBLAS workers busy-wait about 2**28 cycles (~0.1 s) after a call before
    sleeping, and OpenMP workers spin too; on a 2-core machine a side that
    starts while the other library's workers still spin loses its cores to
    them (torch's step measured 2.6x slower right after numpy's than alone).

    With `gate`, the block waits until the cores are less than `gate` busy
    over 50 ms (we are idle then, so that load is other processes', which
    would slow a multi-threaded block down by 2-10x), up to 10 s a block and
    GATE["budget_s"] in all; past that, blocks run ungated and are counted.
    """
    time.sleep(seconds)
    if gate is None:
        return
    GATE["blocks"] += 1
    busy = _cpu_busy(0.05)
    if busy is None or busy < gate:
        return
    GATE["waited"] += 1
    start = time.monotonic()
    deadline = start + min(10.0, GATE["budget_s"])
    while time.monotonic() < deadline:
        if _cpu_busy(0.05) < gate:
            break
    else:
        GATE["ungated"] += 1
    GATE["budget_s"] -= time.monotonic() - start


STATS = {"median": statistics.median, "min": min}


def measure(
    dims, batch: int, reps: int, block_s: float, rng, pause: float, stat, gate: float | None
) -> dict[str, float]:
    X = rng.standard_normal((batch, dims[0]), dtype=np.float32)
    y = rng.integers(0, dims[-1], size=batch).astype(np.int64)
    net, ours = make_ours(dims, X, y)
    sides = {"ours": ours, "floor": make_floor(dims, X, y, net.copy_params())}
    if torch is not None:
        sides["torch"] = make_torch(dims, X, y, net.copy_params())
        sides["torch floor"] = make_torch_floor(dims, X, y, net.copy_params())
    # Warm up (first-touch, BLAS buffers, torch's allocator), then size the blocks.
    blocks = {}
    for name, step in sides.items():
        ms = time_block(step, 3)
        blocks[name] = max(1, int(block_s * 1e3 / max(ms, 1e-3)))
    times: dict[str, list[float]] = {name: [] for name in sides}
    for r in range(reps):
        order = list(sides)
        order = order[r % len(order) :] + order[: r % len(order)]  # rotate who goes first
        for name in order:
            settle(pause, gate)
            times[name].append(time_block(sides[name], blocks[name]))
    return {name: stat(v) for name, v in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS and torch threads (default: all cores)")
    ap.add_argument("--reps", type=int, default=11, help="round-robin repetitions (default 11)")
    ap.add_argument(
        "--stat",
        choices=sorted(STATS),
        default="median",
        help="median of the repetitions (default), or min: each side's least disturbed block, "
        "for a machine where other processes come and go",
    )
    ap.add_argument("--block", type=float, default=0.1, help="seconds of steps per side per repetition")
    ap.add_argument(
        "--pause",
        type=float,
        default=0.15,
        help="seconds of idle between blocks, so no side's spinning threads slow the next",
    )
    ap.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time (default), or this process's CPU time: with --threads 1 it does not "
        "count the time other processes take from us on a shared machine",
    )
    ap.add_argument(
        "--gate",
        type=float,
        default=0.1,
        help="with the wall clock, before each block wait (up to 10 s, 3 min in all) until other "
        "processes use less than this share of the cores (default 0.1; 1 turns the wait off)",
    )
    ap.add_argument("--nets", nargs="*", default=[n for n, _, _ in NETS], help="which nets (default: all)")
    args = ap.parse_args(argv)
    if args.clock == "cpu" and args.threads != 1:
        ap.error("--clock cpu needs --threads 1: with more threads, CPU time counts idle workers' spinning")
    global clock
    clock = CLOCKS[args.clock]

    blas, nthreads = blas_threads(args.threads)
    print(f"numpy {np.__version__}: {blas}; threads {nthreads}")
    if torch is not None:
        torch.set_num_threads(args.threads)
        print(
            f"torch {torch.__version__}: BLAS {torch.backends.mkl.is_available() and 'MKL' or 'other'}, "
            f"oneDNN {torch.backends.mkldnn.is_available()}; threads {torch.get_num_threads()}"
        )
    else:
        print("torch: not installed (pip install -e '.[bench]'); comparing with the floor only")
    print(
        f"step: forward, backward (softmax, reg {REG:g}), momentum {MU} update; float32; "
        f"{args.clock} clock, {args.stat} of {args.reps} round-robin repetitions"
    )
    load_before = os.getloadavg()[0]
    print(
        f"load average {load_before:.2f} on {os.cpu_count()} cores before (other processes on the cores make "
        "multi-threaded wall times unreliable)\n"
    )

    rng = np.random.default_rng(0)
    rows = []
    for name, dims, batch in NETS:
        if name not in args.nets:
            continue
        if torch is not None:
            diff = same_step(
                dims,
                rng.standard_normal((batch, dims[0]), dtype=np.float32),
                rng.integers(0, dims[-1], size=batch).astype(np.int64),
            )
            if diff > 1e-3:
                print(f"{name}: ours and torch disagree on the loss (rel. diff {diff:.1e}); not the same step")
                return 1
            print(f"{name}: ours and torch agree on 5 steps' losses from the same weights (rel. diff {diff:.1e})")
        rows.append(
            (
                name,
                batch,
                measure(
                    dims,
                    batch,
                    args.reps,
                    args.block,
                    rng,
                    args.pause,
                    STATS[args.stat],
                    None if args.gate >= 1 or args.clock == "cpu" else args.gate,
                ),
            )
        )

    print()
    head = (
        f"{'net':<19}{'batch':>6}{'ours ms':>9}{'floor ms':>10}{'torch ms':>10}{'ours/torch':>12}"
        f"{'ours/floor':>12}  {'torch floor ms':>14}  targets"
    )
    print(head)
    print("-" * len(head))
    all_met = True
    for name, batch, m in rows:
        t_max, f_max = TARGETS[name]
        r_floor = m["ours"] / m["floor"]
        ok_floor = r_floor <= f_max
        if "torch" in m:
            r_torch = m["ours"] / m["torch"]
            ok_torch = r_torch <= t_max
            torch_ms, r_torch_s = f"{m['torch']:>10.2f}", f"{r_torch:>11.2f}{'' if ok_torch else '!'}"
            torch_floor = f"{m['torch floor']:>14.2f}"
        else:
            ok_torch, torch_ms, r_torch_s, torch_floor = True, f"{'-':>10}", f"{'-':>11} ", f"{'-':>14}"
        all_met &= ok_floor and ok_torch
        print(
            f"{name:<19}{batch:>6}{m['ours']:>9.2f}{m['floor']:>10.2f}{torch_ms}{r_torch_s:>12}"
            f"{r_floor:>11.2f}{'' if ok_floor else '!'}  {torch_floor}  <= {t_max}x torch, <= {f_max}x floor"
        )
    if GATE["blocks"]:
        print(
            f"\n{GATE['waited']} of {GATE['blocks']} blocks waited for other processes to quiet down; "
            f"{GATE['ungated']} ran without finding a quiet moment"
        )
    print(
        f"\nload average {os.getloadavg()[0]:.2f} after; "
        + ("all targets met" if all_met else "! marks a target missed")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
