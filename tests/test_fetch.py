"""`data fetch` against generated files in the real formats, served from 127.0.0.1.

The server (a thread) answers HTTP Range requests, can cut a file off half way
(once) and can serve bytes that do not match their checksum. The checksums of
the generated files reach the code through fetch(checksums=...) in process and
through TUI_TRAINER_DATA_MD5 (an md5sum-style file) for the command line.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from realformats import MNIST_FILES, idx_bytes, tar_cifar, write_cifar

from tui_trainer.datasets import fetch as fetching
from tui_trainer.datasets import formats
from tui_trainer.datasets.cache import DATA_DIR_ENV, data_dir
from tui_trainer.errors import DataError

REPO = Path(__file__).resolve().parent.parent


class FileServer:
    """Serves `files` (name -> bytes) with Range support; records (path, Range header) per request."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.requests: list[tuple[str, str | None]] = []
        self.cut_once: set[str] = set()  # names to break off half way, the next time they are asked for
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                body = server.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
                if start >= len(body):
                    self.send_error(416)
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if name in server.cut_once:
                    server.cut_once.discard(name)
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def md5(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


@pytest.fixture
def cifar_archive(tmp_path_factory) -> bytes:
    src = tmp_path_factory.mktemp("cifar-src")
    write_cifar(src, per_batch=30, n_test=10)
    return tar_cifar(src, src / "cifar-10-python.tar.gz").read_bytes()


def mnist_files(seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    arrays = [
        rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 40).astype(np.uint8),
        rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 10).astype(np.uint8),
    ]
    return {f"{name}.gz": gzip.compress(idx_bytes(a), mtime=0) for name, a in zip(MNIST_FILES, arrays)}


def run_fetch(*args: str, env: dict | None = None, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", "data", "fetch", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_cifar_through_the_cli_lands_ready_to_load(tmp_path, cifar_archive):
    sums = tmp_path / "MD5SUMS"
    sums.write_text(f"{md5(cifar_archive)}  cifar-10-python.tar.gz\n")
    with FileServer({"cifar-10-python.tar.gz": cifar_archive}) as server:
        result = run_fetch(
            "cifar10",
            "--dir",
            "data",
            env={"TUI_TRAINER_DATA_URL": server.url, "TUI_TRAINER_DATA_MD5": str(sums)},
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert "checksums match, ready in data/cifar-10-batches-py" in result.stdout
        assert leftovers(tmp_path / "data") == ["cifar-10-batches-py"]  # no archive, part or temp folder
        raw = formats.load("cifar10", str(tmp_path / "data" / "cifar-10-batches-py"))
        assert raw.X.shape == (150, 32, 32, 3) and raw.X_test.shape == (10, 32, 32, 3)

        again = run_fetch("cifar10", "--dir", "data", "--base-url", server.url, cwd=tmp_path)
        assert again.returncode == 0 and "already in data/cifar-10-batches-py" in again.stdout
        assert len(server.requests) == 1  # nothing downloaded the second time


def test_mnist_keeps_its_gz_files_which_load_directly(tmp_path):
    files = mnist_files()
    seen: dict[str, tuple[int, int | None]] = {}
    with FileServer(files) as server:
        path = fetching.fetch(
            "mnist",
            tmp_path / "data",
            base_url=server.url,
            checksums={k: md5(v) for k, v in files.items()},
            progress=lambda name, done, total: seen.__setitem__(name, (done, total)),
        )
    assert path == tmp_path / "data" / "mnist"
    assert leftovers(tmp_path / "data") == ["mnist"]
    assert leftovers(path) == sorted(files)
    assert seen == {name: (len(body), len(body)) for name, body in files.items()}
    raw = formats.load("mnist", str(tmp_path / "data"))
    assert raw.X.shape == (40, 28, 28, 1) and raw.y_test.shape == (10,)


def test_a_corrupted_download_is_rejected_and_nothing_is_extracted(tmp_path, cifar_archive):
    corrupted = bytearray(cifar_archive)
    corrupted[len(corrupted) // 2] ^= 0xFF
    sums = tmp_path / "MD5SUMS"
    sums.write_text(f"{md5(cifar_archive)}  cifar-10-python.tar.gz\n")
    with FileServer({"cifar-10-python.tar.gz": bytes(corrupted)}) as server:
        result = run_fetch(
            "cifar10", "--dir", "data", "--base-url", server.url, env={"TUI_TRAINER_DATA_MD5": str(sums)}, cwd=tmp_path
        )
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert "cifar-10-python.tar.gz: checksum mismatch" in message and "nothing was extracted" in message
    assert f"published {md5(cifar_archive)}" in message and "Traceback" not in result.stderr
    assert leftovers(tmp_path / "data") == []


def test_an_interrupted_download_resumes_with_a_range_request(tmp_path, cifar_archive):
    name = "cifar-10-python.tar.gz"
    checksums = {name: md5(cifar_archive)}
    with FileServer({name: cifar_archive}) as server:
        server.cut_once.add(name)
        with pytest.raises(DataError, match="broke off at .* run the same command again to resume"):
            fetching.fetch("cifar10", tmp_path, base_url=server.url, checksums=checksums, retries=0)
        part = tmp_path / ".cifar-10-batches-py.download" / f"{name}.part"
        half = len(cifar_archive) // 2
        assert part.stat().st_size == half
        assert not (tmp_path / "cifar-10-batches-py").exists()

        path = fetching.fetch("cifar10", tmp_path, base_url=server.url, checksums=checksums)
    assert server.requests == [(name, None), (name, f"bytes={half}-")]
    assert leftovers(tmp_path) == ["cifar-10-batches-py"]
    assert formats.load("cifar10", str(path)).X.shape == (150, 32, 32, 3)


def test_a_dropped_connection_is_retried_within_one_fetch(tmp_path):
    files = mnist_files(seed=1)
    with FileServer(files) as server:
        server.cut_once.add("train-images-idx3-ubyte.gz")
        fetching.fetch("fashion-mnist", tmp_path, base_url=server.url, checksums={k: md5(v) for k, v in files.items()})
    ranges = [r for name, r in server.requests if name == "train-images-idx3-ubyte.gz"]
    assert ranges == [None, f"bytes={len(files['train-images-idx3-ubyte.gz']) // 2}-"]
    assert formats.load("fashion-mnist", str(tmp_path)).label_names[0] == "T-shirt/top"


def test_no_network_is_a_clear_message_and_exit_2(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_fetch("mnist", "--dir", "data", "--base-url", f"http://127.0.0.1:{port}/", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1  # one line: no blank line from a bar that never started
    line = result.stderr.strip()
    assert "\n" not in line
    assert f"cannot reach http://127.0.0.1:{port}/train-images-idx3-ubyte.gz" in line
    assert "check the network connection" in line
    assert leftovers(tmp_path / "data") == []


def test_the_published_checksums_are_the_official_ones():
    assert fetching.SOURCES["cifar10"].files == {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}
    assert fetching.SOURCES["cifar10"].mirrors == ("https://www.cs.toronto.edu/~kriz/",)
    assert fetching.SOURCES["mnist"].files["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert fetching.SOURCES["fashion-mnist"].files["t10k-labels-idx1-ubyte.gz"] == "bb300cfdad3c16e7a12a480ee83cd310"


def test_a_malformed_checksum_file_names_its_line(tmp_path):
    sums = tmp_path / "MD5SUMS"
    sums.write_text("c58f30108f718f92721af3b95e74349a  cifar-10-python.tar.gz\nnot a checksum\n")
    result = run_fetch("cifar10", "--dir", "data", env={"TUI_TRAINER_DATA_MD5": str(sums)}, cwd=tmp_path)
    assert result.returncode == 2 and f"{sums}:2: expected 'MD5  FILENAME'" in result.stderr


# --- the per-user cache folder --------------------------------------------------------------


def test_the_data_folder_is_the_variable_else_the_xdg_cache_else_home(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "mine"
    monkeypatch.delenv(DATA_DIR_ENV)
    assert data_dir() == tmp_path / "xdg" / "tui-trainer"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid by the XDG spec: ignored
    assert data_dir() == tmp_path / "home" / ".cache" / "tui-trainer"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_dir() == tmp_path / "home" / ".cache" / "tui-trainer"


def test_fetch_without_dir_fills_the_cache_where_cifar10_2layer_finds_it(tmp_path, cifar_archive):
    cache = tmp_path / "xdg"
    env = {DATA_DIR_ENV: "", "XDG_CACHE_HOME": str(cache)}
    work = tmp_path / "work"
    work.mkdir()
    small = [
        "--set",
        "data.num_train=80",
        "--set",
        "data.num_val=20",
        "--set",
        "data.num_test=10",
        "--set",
        "train.epochs=1",
        "--json",
        "--runs-dir",
        "runs",
    ]

    def run_preset() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tui_trainer", "run", "cifar10-2layer", *small],
            capture_output=True,
            text=True,
            cwd=work,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
        )

    missing = run_preset()
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert f"{cache / 'tui-trainer'}" in missing.stderr and "tui-trainer data fetch cifar10" in missing.stderr

    sums = tmp_path / "MD5SUMS"
    sums.write_text(f"{md5(cifar_archive)}  cifar-10-python.tar.gz\n")
    with FileServer({"cifar-10-python.tar.gz": cifar_archive}) as server:
        result = run_fetch(
            "cifar10", "--base-url", server.url, env={**env, "TUI_TRAINER_DATA_MD5": str(sums)}, cwd=work
        )
    assert result.returncode == 0, result.stderr
    assert f"ready in {cache / 'tui-trainer' / 'cifar-10-batches-py'}" in result.stdout
    assert 'dataset = "cifar10" (no path needed)' in result.stdout
    assert leftovers(cache / "tui-trainer") == ["cifar-10-batches-py"] and leftovers(work) == []

    ran = run_preset()
    assert ran.returncode == 0, ran.stderr
    events = [json.loads(line) for line in ran.stdout.splitlines()]
    assert events[0]["n_train"] == 80 and events[0]["config"]["data"]["path"] == ""
    assert events[-1]["status"] == "finished"


def test_the_variable_moves_the_download(tmp_path):
    files = mnist_files()
    sums = tmp_path / "MD5SUMS"
    sums.write_text("".join(f"{md5(body)}  {name}\n" for name, body in files.items()))
    with FileServer(files) as server:
        result = run_fetch(
            "mnist",
            "--base-url",
            server.url,
            cwd=tmp_path,
            env={DATA_DIR_ENV: str(tmp_path / "mine"), "TUI_TRAINER_DATA_MD5": str(sums)},
        )
    assert result.returncode == 0, result.stderr
    assert leftovers(tmp_path / "mine") == ["mnist"]
    assert formats.load("mnist", str(tmp_path / "mine" / "mnist")).X.shape == (40, 28, 28, 1)
