"""`data fetch` against a server and a disk that misbehave: a trickle, a full disk,
escape codes in the server's reply, a binary checksum file. One line each, exit 2."""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_fetch import FileServer, md5, mnist_files, run_fetch

from tui_trainer.datasets import fetch as fetching
from tui_trainer.errors import DataError, UserError


class Trickle:
    """Answers every file with a promised length, then one byte every `every` seconds."""

    def __init__(self, every: float):
        trickle = self
        self.stop = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                while not trickle.stop.wait(every):
                    try:
                        self.wfile.write(b"x")
                        self.wfile.flush()
                    except OSError:
                        return

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_server_that_trickles_times_out_and_says_so(tmp_path):
    server = Trickle(every=0.1)  # each byte well within the socket timeout
    try:
        started = time.monotonic()
        with pytest.raises(DataError, match=r"read timed out: under 1024 bytes in 0.5s") as e:
            fetching.fetch("mnist", tmp_path, base_url=server.url, retries=0, timeout=0.5)
        # The trickle's 100,000 bytes take 10,000 s. A fetch that gives up after its
        # 0.5 s window ends in about a second, well inside a minute on any machine
        # under any load; only one that waits out the trickle, or most of it, misses it.
        assert time.monotonic() - started < 60
    finally:
        server.close()
    assert "the download broke off" in str(e.value) and "run the same command again to resume" in str(e.value)


def test_a_full_disk_says_the_disk_is_full_not_that_the_download_broke(tmp_path):
    files = mnist_files()
    staging = tmp_path / ".mnist.download"
    staging.mkdir()
    (staging / "train-images-idx3-ubyte.gz.part").symlink_to("/dev/full")  # every write: ENOSPC
    with FileServer(files) as server:
        with pytest.raises(UserError, match="the disk is full") as e:
            fetching.fetch("mnist", tmp_path, base_url=server.url, checksums={k: md5(v) for k, v in files.items()})
    assert "broke off" not in str(e.value) and "--dir" in str(e.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_folder_without_write_permission_says_so(tmp_path):
    files = mnist_files()
    staging = tmp_path / ".mnist.download"
    staging.mkdir()
    staging.chmod(0o500)
    with FileServer(files) as server:
        with pytest.raises(UserError, match="permission denied"):
            fetching.fetch("mnist", tmp_path, base_url=server.url, checksums={k: md5(v) for k, v in files.items()})


def test_a_binary_checksum_file_is_one_line(tmp_path):
    sums = tmp_path / "MD5SUMS"
    sums.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    result = run_fetch("mnist", "--dir", "data", env={"TUI_TRAINER_DATA_MD5": str(sums)}, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "not UTF-8 text" in result.stderr


def test_escape_codes_in_the_servers_reply_never_reach_the_terminal(tmp_path):
    class Hostile(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(503, "Busy\x1b[2J\x1b]0;owned\x07 [/red]")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        result = run_fetch("mnist", "--dir", "data", "--base-url", url, cwd=tmp_path)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "503 Busy [/red]" in result.stderr
