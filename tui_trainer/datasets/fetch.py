"""Download a public data set from its official address, verify it, put it in place.

    path = fetch("cifar10", progress=on_bytes)   # -> ~/.cache/tui-trainer/cifar-10-batches-py
    path = fetch("mnist", "some/dir")            # -> some/dir/mnist (the four .gz idx files)

DIR defaults to the per-user cache folder, cache.data_dir().

Each file is downloaded into DIR/.NAME.download/FILE.part, resumed with an
HTTP Range request when a part is already there (a dropped connection is
retried the same way), checked against its published MD5, and only then
renamed to FILE. A file is never taken past its published size (or, for a
checksum given instead of the published one, past MAX_DOWNLOAD_BYTES): a
mirror that streams forever would otherwise fill the disk. The data set appears in DIR by one rename of a complete
folder: cifar10's archive is extracted into a temporary folder first, so a
failure never leaves half a data set behind.

stdlib only: the progress bar is the caller's (commands/data.py), through `progress`.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, UserError, environment_problem
from . import cifar
from .cache import FOLDERS, data_dir

URL_ENV = "TUI_TRAINER_DATA_URL"  # a base address to fetch from instead of the official ones
MD5_ENV = "TUI_TRAINER_DATA_MD5"  # an md5sum-style file whose lines override the published checksums
CHUNK = 1 << 16
# The most a file whose size is not published may take: the biggest published file
# (CIFAR-10's archive, 163 MiB) six times over.
MAX_DOWNLOAD_BYTES = 1 << 30

Progress = Callable[[str, int, "int | None"], None]  # (file name, bytes so far, total bytes or None)


@dataclass(frozen=True)
class Source:
    mirrors: tuple[str, ...]  # base addresses, tried in order; a file's URL is base + file name
    files: dict[str, str]  # file name -> published md5
    folder: str  # what appears in DIR
    sizes: dict[str, int]  # file name -> published size in bytes (of the file with that md5)
    archive: bool = False  # True: extract the (one) tar file into `folder`; False: keep the files


SOURCES = {
    "cifar10": Source(
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files={cifar.ARCHIVE: "c58f30108f718f92721af3b95e74349a"},
        folder=FOLDERS["cifar10"],
        sizes={cifar.ARCHIVE: 170_498_071},
        archive=True,
    ),
    # The md5s published with the data sets (and used by torchvision's MNIST and FashionMNIST).
    "mnist": Source(
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        files={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        folder=FOLDERS["mnist"],
        sizes={
            "train-images-idx3-ubyte.gz": 9_912_422,
            "train-labels-idx1-ubyte.gz": 28_881,
            "t10k-images-idx3-ubyte.gz": 1_648_877,
            "t10k-labels-idx1-ubyte.gz": 4_542,
        },
    ),
    "fashion-mnist": Source(
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        files={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        folder=FOLDERS["fashion-mnist"],
        sizes={
            "train-images-idx3-ubyte.gz": 26_421_880,
            "train-labels-idx1-ubyte.gz": 29_515,
            "t10k-images-idx3-ubyte.gz": 4_422_102,
            "t10k-labels-idx1-ubyte.gz": 5_148,
        },
    ),
}


def installed(name: str, directory: str | Path | None = None) -> Path | None:
    """The data set's folder in `directory` (default: the cache folder) if it is complete there, else None."""
    source = SOURCES[name]
    target = Path(directory if directory is not None else data_dir()) / source.folder
    expected = (*cifar.TRAIN_FILES, cifar.TEST_FILE, cifar.META_FILE) if source.archive else tuple(source.files)
    return target if all((target / f).is_file() for f in expected) else None


def fetch(
    name: str,
    directory: str | Path | None = None,
    base_url: str | None = None,
    checksums: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    retries: int = 2,
    timeout: float = 30.0,
) -> Path:
    """Download, verify and install data set `name` into `directory` (default: the cache folder); returns its folder.

    base_url replaces the official mirrors; checksums (file name -> md5)
    replace published ones; a dropped connection is resumed up to `retries` times.
    """
    if name not in SOURCES:
        raise DataError(f"unknown data set {name!r}; one of {', '.join(SOURCES)}")
    source = SOURCES[name]
    root = Path(directory if directory is not None else data_dir())
    target = root / source.folder
    if installed(name, root):
        return target
    if target.exists():
        raise DataError(
            f"{target}: already exists but is not a complete {name} data set; "
            "move it away or delete it, then fetch again"
        )
    staging = root / f".{source.folder}.download"
    try:
        staging.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{root}: cannot create the download folder there ({e.strerror})") from None
    mirrors = (base_url if base_url.endswith("/") else base_url + "/",) if base_url else source.mirrors
    sums = {**source.files, **(checksums or {})}
    try:
        _download_all(source, staging, mirrors, sums, progress or _quiet, retries, timeout)
    finally:
        if not any(staging.iterdir()):
            staging.rmdir()  # nothing to resume: leave no trace
    if source.archive:
        archive = staging / next(iter(source.files))
        _extract_cifar(archive, root, target)
        shutil.rmtree(staging, ignore_errors=True)
    else:
        os.rename(staging, target)  # now holds exactly the verified files
    return target


def _download_all(
    source: Source,
    staging: Path,
    mirrors: tuple[str, ...],
    sums: Mapping[str, str],
    progress: Progress,
    retries: int,
    timeout: float,
) -> None:
    for filename in source.files:
        done = staging / filename
        if done.is_file() and _md5(done) == sums[filename]:
            continue  # verified by an earlier run that failed later
        part = staging / f"{filename}.part"
        published = sums[filename] == source.files[filename] and filename in source.sizes
        limit = source.sizes[filename] if published else MAX_DOWNLOAD_BYTES
        url = _download(mirrors, filename, part, progress, retries, timeout, limit)
        got = _md5(part)
        if got != sums[filename]:
            part.unlink()
            raise DataError(
                f"{url}: checksum mismatch (md5 {got}, published {sums[filename]}); "
                "the download was deleted and nothing was extracted; run the command again"
            )
        os.replace(part, done)


def read_checksum_file(path: str | Path) -> dict[str, str]:
    """`md5  file name` lines (md5sum's output) -> {file name: md5}."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise DataError(f"{path}: cannot read the checksum file ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path}: not a checksum file: not UTF-8 text (byte {e.start}); expected 'MD5  FILENAME' lines "
            "(as md5sum writes)"
        ) from None
    sums = {}
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or len(fields[0]) != 32 or not all(c in "0123456789abcdef" for c in fields[0].lower()):
            raise DataError(f"{path}:{number}: expected 'MD5  FILENAME' (as md5sum writes), found {line.strip()!r}")
        sums[fields[1].lstrip("*")] = fields[0].lower()
    return sums


# --- downloading -----------------------------------------------------------------


class _Interrupted(Exception):
    def __init__(self, done: int, total: int | None, why: str = ""):
        super().__init__(f"{done} of {total if total is not None else '?'} bytes" + (f" ({why})" if why else ""))
        self.done, self.total = done, total


# A server that trickles (a byte every few seconds) never trips the socket's
# timeout, which counts from the last byte: under this many bytes in `timeout`
# seconds is a read timeout too.
STALL_BYTES = 1024


def disk_error(path: Path | str, e: OSError) -> UserError:
    """Our own disk failed, not the connection: say which and what to do."""
    return environment_problem(
        path,
        "write the download",
        e,
        "free some space or fetch into another folder with --dir; the same command resumes it",
    )


def _download(
    mirrors: tuple[str, ...],
    filename: str,
    part: Path,
    progress: Progress,
    retries: int,
    timeout: float,
    limit: int = MAX_DOWNLOAD_BYTES,
) -> str:
    """Complete `part` from the first mirror that answers; returns the URL it came from."""
    errors = []
    for base in mirrors:
        url = base + filename
        for attempt in range(retries + 1):
            try:
                _get(url, filename, part, progress, timeout, limit)
                return url
            except _Interrupted as e:
                if attempt == retries:
                    raise DataError(
                        f"{url}: the download broke off at {e}; {part} is kept: run the same command again to resume it"
                    ) from None
                time.sleep(attempt)  # the first retry at once, then a little later
            except urllib.error.HTTPError as e:
                errors.append(f"{url}: the server answered {e.code} {e.reason}")
                break
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                reason = getattr(e, "reason", e)
                errors.append(f"cannot reach {url} ({reason})")
                break
    raise DataError(
        "; ".join(errors) + f"; check the network connection, or put {filename} "
        f"(from {mirrors[0]}) into {part.parent} by hand and run the command again"
    )


def _get(
    url: str, filename: str, part: Path, progress: Progress, timeout: float, limit: int = MAX_DOWNLOAD_BYTES
) -> None:
    """Append the rest of url's bytes to `part`, from its current size on (HTTP Range),
    and no more than `limit` bytes in all: past that the part is deleted, a DataError."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "tui-trainer"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            return  # nothing left to send: the part is whole, the checksum decides
        raise
    with response:
        if have and response.status != 206:
            have = 0  # the server ignored the range: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None and length.isdigit() else None
        if total is not None and total > limit:
            part.unlink(missing_ok=True)
            raise _too_big(url, filename, f"it says it will send {total:,} bytes", limit)
        done = have
        progress(filename, done, total)
        try:
            f = open(part, "ab" if have else "wb")
        except OSError as e:
            raise disk_error(part, e) from None
        with f:
            window_start, window_bytes = time.monotonic(), 0
            while True:
                try:
                    chunk = response.read1(CHUNK)
                except TimeoutError:
                    raise _Interrupted(done, total, f"read timed out: nothing for {timeout:g}s") from None
                except (OSError, http.client.HTTPException):
                    raise _Interrupted(done, total) from None
                if not chunk:
                    break
                try:
                    f.write(chunk)
                    f.flush()
                except OSError as e:
                    raise disk_error(part, e) from None
                done += len(chunk)
                if done > limit:
                    f.close()
                    part.unlink(missing_ok=True)
                    raise _too_big(url, filename, f"it sent more than {limit:,} bytes", limit)
                progress(filename, done, total)
                window_bytes += len(chunk)
                if window_bytes >= STALL_BYTES:
                    window_start, window_bytes = time.monotonic(), 0
                elif time.monotonic() - window_start > timeout:
                    raise _Interrupted(
                        done, total, f"read timed out: under {STALL_BYTES} bytes in {timeout:g}s"
                    ) from None
    if total is not None and done < total:
        raise _Interrupted(done, total)


def _too_big(url: str, filename: str, what: str, limit: int) -> DataError:
    size = (
        f"{filename} is {limit:,} bytes (its published size)"
        if limit != MAX_DOWNLOAD_BYTES
        else f"a download may take {limit:,} bytes at most"
    )
    return DataError(
        f"{url}: {what}, and {size}: not the file, or a server that never stops; "
        "the download was deleted; try again later, or another mirror"
    )


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _quiet(filename: str, done: int, total: int | None) -> None:
    pass


# --- installing ---------------------------------------------------------------------


def _extract_cifar(archive: Path, root: Path, target: Path) -> None:
    """The batch files of the archive into a temporary folder in root, renamed to target when whole.

    Only the known members are written, each by name into that folder, so a
    hostile archive cannot place files elsewhere."""
    wanted = {*cifar.TRAIN_FILES, cifar.TEST_FILE, cifar.META_FILE, "readme.html"}
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{target.name}.extract-"))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                folder, _, name = member.name.partition("/")
                if member.isfile() and folder == cifar.FOLDER and name in wanted:
                    with cifar.open_member(tar, member) as src, open(tmp / name, "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)
        missing = [n for n in (*cifar.TRAIN_FILES, cifar.TEST_FILE, cifar.META_FILE) if not (tmp / n).is_file()]
        if missing:
            raise DataError(f"{archive}: the archive lacks {cifar.FOLDER}/{', '.join(missing)}; nothing was extracted")
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp made it private
        os.rename(tmp, target)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DataError(
                f"{root}: cannot extract {archive.name}: the disk is full ({e.strerror}); free some space and "
                "run the command again (the verified download is kept)"
            ) from None
        raise DataError(f"{archive}: cannot extract it ({type(e).__name__}: {e}); nothing was extracted") from None
    except (tarfile.TarError, EOFError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{archive}: cannot extract it ({type(e).__name__}: {e}); nothing was extracted") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
