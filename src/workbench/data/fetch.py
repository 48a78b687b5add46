"""Download the official dataset files, check them, and convert them to the staged layout.

``workbench data fetch`` and ``store.locate`` (on a miss, when downloads are allowed) end up here.
Everything is arranged so that a failure leaves nothing half-done behind:

* each file is downloaded to ``<file>.part`` inside a private ``.partial-<name>-*`` folder next to
  the target, and renamed only after the digest published for it matched;
* the staged ``.npz`` is written to a temporary file in the target directory and appears with one
  ``os.replace``, so another process (a second notebook, a SLURM array task) sees either the whole
  file or none;
* the temporary folder is removed whatever happens, Ctrl-C included.

Only the standard library downloads (``urllib.request``): a login node may have nothing else, and
``https_proxy`` is honoured. Archives are read member by member and never extracted, so a hostile
archive cannot write outside its folder; nothing is unpickled.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import re
import secrets
import shutil
import struct
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench import settings
from workbench.data import content
from workbench.data.registry import DatasetSpec, Source

BACKOFF_BASE = 0.5  # seconds before the first retry, doubled for each further one; tests use 0
CHUNK = 1 << 16  # bytes per read: small enough for a lively progress bar
USER_AGENT = "workbench-data-fetch/0.1 (Python urllib)"
TRANSIENT_HTTP = {408, 425, 429}  # client-side codes that mean "try again later"

Converter = Callable[[Path], dict[str, np.ndarray]]


class FetchError(RuntimeError):
    """A download or conversion failed; the message names the URL or file and what to do."""


class _Truncated(Exception):
    """The server closed the connection before sending the bytes Content-Length announced."""


# Failures worth another attempt. TimeoutError is also ``socket.timeout``; HTTPException covers
# http.client.IncompleteRead and RemoteDisconnected; URLError wraps refused/unreachable hosts.
RETRYABLE = (
    urllib.error.URLError,
    ConnectionError,
    TimeoutError,
    http.client.HTTPException,
    _Truncated,
)
# What reading a damaged gzip/zip/tar raises; turned into FetchError naming the file.
ARCHIVE_ERRORS = (OSError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile)


def _note(message: str, enabled: bool = True) -> None:
    """A status line on stderr, so stdout stays clean for scripts."""
    if enabled:
        print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- progress


class _Progress:
    """Progress of one download on stderr.

    On a terminal one line is redrawn, at most ten times a second. In a batch job's log, where
    carriage returns make a mess, a plain line is written at every 10 % instead.
    """

    def __init__(self, label: str, total: int | None, enabled: bool = True):
        self.label, self.total, self.enabled = label, total, enabled
        self.stream = sys.stderr  # looked up now, so captured/redirected stderr is honoured
        self.tty = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.last_decile = -1

    def _line(self, done: int) -> str:
        rate = done / max(time.monotonic() - self.start, 1e-6) / 1e6
        if not self.total:
            return f"{self.label}: {done / 1e6:.1f} MB  {rate:.1f} MB/s"
        fraction = min(done / self.total, 1.0)
        bar = "#" * int(fraction * 20)
        return (
            f"{self.label}: [{bar:<20}] {fraction:4.0%}  "
            f"{done / 1e6:.1f}/{self.total / 1e6:.1f} MB  {rate:.1f} MB/s"
        )

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw >= 0.1:
                self.last_draw = now
                self.stream.write("\r" + self._line(done))
                self.stream.flush()
        elif self.total:
            decile = done * 10 // self.total
            if decile > self.last_decile:
                self.last_decile = decile
                self.stream.write(self._line(done) + "\n")
                self.stream.flush()

    def finish(self, done: int) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + self._line(done) + "\n")
        elif not self.total:  # no Content-Length: no 10 % lines were written, say it once
            self.stream.write(self._line(done) + "\n")
        self.stream.flush()


# --------------------------------------------------------------------------- downloading


def _content_length(response) -> int | None:
    value = (response.headers.get("Content-Length") or "").strip()
    return int(value) if value.isdigit() else None


def _stream(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    """One attempt: copy the body of ``url`` into ``part``; a short body raises ``_Truncated``.

    ``http.client`` returns an empty read, not an error, when a server closes the connection
    early, so the byte count is compared with Content-Length here.
    """
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
        total = _content_length(response)
        bar = _Progress(part.name.removesuffix(".part"), total, progress)
        done = 0
        while block := response.read(CHUNK):
            out.write(block)
            done += len(block)
            bar.update(done)
        bar.finish(done)
    if total is not None and done < total:
        raise _Truncated(f"the connection closed after {done} of {total} bytes")


def _retry_delay(attempt: int) -> float:
    """Exponential backoff: BACKOFF_BASE, twice that, four times that, ..."""
    return BACKOFF_BASE * 2 ** (attempt - 1)


def _http_failure(url: str, error: urllib.error.HTTPError) -> FetchError:
    error.close()
    return FetchError(
        f"{url}: the server answered HTTP {error.code} {error.reason}. If the file has moved, "
        "update its URL in workbench/data/registry.py; otherwise download it by hand on a "
        "machine with internet and stage it (see `workbench data verify`)."
    )


def _download_with_retries(
    source: Source, part: Path, *, retries: int, progress: bool, timeout: float
) -> None:
    """Try ``retries`` times, waiting longer each time; give up at once on permanent errors."""
    attempts = max(1, retries)
    last: BaseException | None = None
    for attempt in range(1, attempts + 1):
        try:
            _stream(source.url, part, progress=progress, timeout=timeout)
            return
        except urllib.error.HTTPError as error:  # before URLError, which it subclasses
            if error.code < 500 and error.code not in TRANSIENT_HTTP:
                raise _http_failure(source.url, error) from error
            error.close()
            last = error
        except RETRYABLE as error:
            last = error
        except OSError as error:  # not the network: the disk (full, read-only, quota)
            raise FetchError(
                f"{source.url}: could not write {part}: {error}. Free some space or pass a "
                "writable directory (`--dir` or WORKBENCH_DATA)."
            ) from error
        if attempt < attempts:
            delay = _retry_delay(attempt)
            _note(f"{source.url}: {last}; retrying in {delay:.1f} s "
                  f"(attempt {attempt + 1} of {attempts})", progress)
            time.sleep(delay)
    raise FetchError(
        f"{source.url}: download failed after {attempts} attempts (last error: {last}). Check "
        "the network and proxy (https_proxy), then run the fetch again; on a compute node "
        "without internet, fetch on a login node instead."
    ) from last


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in blocks (archives are hundreds of MB)."""
    digest = hashlib.new(algorithm, usedforsecurity=False)  # md5 must work on FIPS systems too
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_digest(source: Source, path: Path) -> None:
    """Compare ``path`` with every digest published for ``source``; delete it on a mismatch.

    A mismatch is not retried: it means a changed file or an error page, not a flaky network.
    """
    for algorithm in ("sha256", "md5"):
        expected = getattr(source, algorithm)
        if not expected:
            continue
        actual = file_digest(path, algorithm)
        if actual != expected.lower():
            path.unlink(missing_ok=True)
            raise FetchError(
                f"{source.url}: {algorithm} mismatch: expected {expected}, got {actual}; the "
                "download was deleted. The server may have sent an error page or a changed "
                "file: try again later, and if the official file really changed, update the "
                "digest in workbench/data/registry.py."
            )


def download(
    source: Source, folder: Path, *, retries: int = 3, progress: bool = True, timeout: float = 60
) -> Path:
    """Download one official file into ``folder`` and check it; return its path.

    The bytes go to ``<file>.part``, renamed only after the digest matched; on any failure,
    Ctrl-C included, the ``.part`` file is removed.
    """
    if Path(source.filename).name != source.filename:
        raise FetchError(f"{source.url}: file name {source.filename!r} must not contain a folder; "
                         "fix the Source in workbench/data/registry.py.")
    target = folder / source.filename
    part = folder / f"{source.filename}.part"
    try:
        _download_with_retries(source, part, retries=retries, progress=progress, timeout=timeout)
        _verify_digest(source, part)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, target)
    return target


# --------------------------------------------------------------------------- reading raw files


def _read_bytes(path: Path) -> bytes:
    """All bytes of a file, transparently un-gzipped when its name ends in ``.gz``."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            return handle.read()
    except ARCHIVE_ERRORS as error:
        raise FetchError(f"{path}: cannot be read ({error}); delete it and fetch again.") from error


def read_idx(path: Path, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes (the MNIST family's format), gzipped or not.

    The header is a big-endian magic number ``0x000008NN`` (``08``: unsigned bytes, ``NN``: the
    number of dimensions; 0x00000803 for images, 0x00000801 for labels), then ``NN`` big-endian
    uint32 sizes. Checking the magic number and the size catches a swapped or truncated file here
    rather than as a strange accuracy later.
    """
    data = _read_bytes(path)
    if len(data) < 4:
        raise FetchError(f"{path}: {len(data)} bytes is too short for an IDX file; fetch again.")
    (magic,) = struct.unpack(">I", data[:4])
    dims_count = magic & 0xFF
    if magic >> 8 != 0x08 or (ndim is not None and dims_count != ndim):
        expected = f"0x{0x800 | ndim:08x}" if ndim is not None else "0x000008NN"
        raise FetchError(f"{path}: IDX magic number 0x{magic:08x}, expected {expected}; this is "
                         "not the expected file: delete it and fetch again.")
    header = 4 + 4 * dims_count
    dims = struct.unpack(f">{dims_count}I", data[4:header]) if len(data) >= header else ()
    if len(data) < header or len(data) - header != int(np.prod(dims)):
        raise FetchError(f"{path}: the IDX header announces shape {dims} but the file holds "
                         f"{len(data) - header} data bytes; it is truncated: fetch again.")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _tar_files(archive: Path, keep: Callable[[str], object]) -> Iterator[tuple[str, bytes]]:
    """``(name, bytes)`` of the regular files in ``archive`` whose name ``keep`` accepts.

    One sequential pass (seeking backwards in a .tar.gz means decompressing again), nothing
    written to disk, links and devices skipped: member names such as ``../x`` or ``/etc/x``
    cannot touch the file system.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if member.isfile() and keep(name):
                    handle = tar.extractfile(member)
                    yield name, handle.read() if handle is not None else b""
    except ARCHIVE_ERRORS as error:
        raise FetchError(f"{archive}: cannot be read as a tar archive ({error}); delete it and "
                         "fetch again.") from error


def read_tar_members(archive: Path, names: list[str]) -> dict[str, bytes]:
    """The bytes of the named regular-file members; a missing one is an error naming it."""
    wanted = set(names)
    found = dict(_tar_files(archive, wanted.__contains__))
    missing = sorted(wanted - found.keys())
    if missing:
        raise FetchError(f"{archive}: members {missing} are missing; this is not the expected "
                         "archive (or it is truncated): delete it and fetch again.")
    return found


# --------------------------------------------------------------------------- converters


def _convert_mnist(raw_dir: Path) -> dict[str, np.ndarray]:
    """Keras' ``mnist.npz`` already holds our four arrays; copy them out, never unpickling."""
    path = raw_dir / "mnist.npz"
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in content.IMAGE_ARRAYS}
    except (*ARCHIVE_ERRORS, ValueError, KeyError) as error:
        raise FetchError(f"{path}: not a readable mnist.npz ({error}); delete it and fetch "
                         "again.") from error


IDX_FILES = {  # array -> (file, dimensions)
    "x_train": ("train-images-idx3-ubyte.gz", 3),
    "y_train": ("train-labels-idx1-ubyte.gz", 1),
    "x_test": ("t10k-images-idx3-ubyte.gz", 3),
    "y_test": ("t10k-labels-idx1-ubyte.gz", 1),
}


def _convert_idx_set(raw_dir: Path) -> dict[str, np.ndarray]:
    """Fashion-MNIST ships the original MNIST layout: four gzipped IDX files."""
    return {key: read_idx(raw_dir / name, ndim) for key, (name, ndim) in IDX_FILES.items()}


CIFAR_PIXELS = 3 * 32 * 32


@dataclass(frozen=True)
class CifarLayout:
    """Where the binary CIFAR batches sit in the archive and how their labels are stored."""

    archive: str
    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    label_bytes: int  # label bytes in front of each image
    label_index: int  # which of them is the label we keep


CIFAR10 = CifarLayout(
    "cifar-10-binary.tar.gz", "cifar-10-batches-bin",
    tuple(f"data_batch_{i}.bin" for i in range(1, 6)), ("test_batch.bin",),
    label_bytes=1, label_index=0,
)
CIFAR100 = CifarLayout(  # records hold the coarse label, then the fine label: keep the fine one
    "cifar-100-binary.tar.gz", "cifar-100-binary", ("train.bin",), ("test.bin",),
    label_bytes=2, label_index=1,
)


def cifar_records(data: bytes, layout: CifarLayout, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Split binary CIFAR records into HWC images ``(n, 32, 32, 3)`` and labels ``(n,)``.

    A record is the label byte(s), then 3072 pixel bytes in CHW order: the 1024 red values of
    the 32x32 image row by row, then the green ones, then the blue ones. Keras wants HWC.
    """
    record = layout.label_bytes + CIFAR_PIXELS
    if len(data) % record:
        raise FetchError(f"{where}: {len(data)} bytes is not a whole number of {record}-byte "
                         "records; the archive is damaged: delete it and fetch again.")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)
    images = rows[:, layout.label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), rows[:, layout.label_index].copy()


def _convert_cifar(layout: CifarLayout, raw_dir: Path) -> dict[str, np.ndarray]:
    """Read the binary batches of a CIFAR archive (the pickle-free version) into our layout."""
    archive = raw_dir / layout.archive
    members = {split: [f"{layout.folder}/{name}" for name in names]
               for split, names in (("train", layout.train), ("test", layout.test))}
    data = read_tar_members(archive, members["train"] + members["test"])
    arrays = {}
    for split, names in members.items():
        parts = [cifar_records(data.pop(name), layout, f"{archive}:{name}") for name in names]
        arrays[f"x_{split}"] = np.concatenate([images for images, _ in parts])
        arrays[f"y_{split}"] = np.concatenate([labels for _, labels in parts])
    return arrays


IMDB_ARCHIVE = "aclImdb_v1.tar.gz"
IMDB_REVIEW = re.compile(r"aclImdb/(train|test)/(neg|pos)/(\d+)_(\d+)\.txt")
IMDB_SPLITS = {"train": 0, "test": 1}
IMDB_LABELS = {"neg": 0, "pos": 1}


def _imdb_review(archive: Path, name: str, body: bytes) -> tuple[int, int, int, int, bytes]:
    """``(split, label, id, rating, text)`` of one review; id and rating come from its name."""
    split, label, review_id, rating = IMDB_REVIEW.fullmatch(name).groups()
    try:
        body.decode("utf-8")  # the loader decodes strictly: find a bad review now, by name
    except UnicodeDecodeError as error:
        raise FetchError(f"{archive}:{name} is not UTF-8 ({error}); the archive is damaged: "
                         "delete it and fetch again.") from error
    return IMDB_SPLITS[split], IMDB_LABELS[label], int(review_id), int(rating), body


def _text_arrays(reviews: list[tuple[int, int, int, int, bytes]]) -> dict[str, np.ndarray]:
    """Pack reviews into the staged text layout: one byte buffer plus offsets, no objects."""
    split, labels, ids, ratings, texts = zip(*reviews, strict=True)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(text) for text in texts], out=offsets[1:])
    return {
        "text_bytes": np.frombuffer(b"".join(texts), dtype=np.uint8),
        "text_offsets": offsets,
        "labels": np.array(labels, dtype=np.uint8),
        "split": np.array(split, dtype=np.uint8),
        "ratings": np.array(ratings, dtype=np.uint8),
        "ids": np.array(ids, dtype=np.int64),
    }


def _convert_imdb(raw_dir: Path) -> dict[str, np.ndarray]:
    """The labelled reviews of aclImdb (``unsup`` and the bag-of-words files are skipped).

    Order: train then test; within each, by label then numeric id, so every fetch gives the same
    file whatever order the archive lists its members in.
    """
    archive = raw_dir / IMDB_ARCHIVE
    reviews = [_imdb_review(archive, name, body)
               for name, body in _tar_files(archive, IMDB_REVIEW.fullmatch)]
    if not reviews:
        raise FetchError(f"{archive}: no aclImdb/{{train,test}}/{{neg,pos}}/<id>_<rating>.txt "
                         "reviews inside; this is not the IMDB archive: fetch again.")
    reviews.sort(key=lambda review: review[:3])
    return _text_arrays(reviews)


CONVERTERS: dict[str, Converter] = {
    "mnist": _convert_mnist,
    "fashion_mnist": _convert_idx_set,
    "cifar10": functools.partial(_convert_cifar, CIFAR10),
    "cifar100": functools.partial(_convert_cifar, CIFAR100),
    "imdb": _convert_imdb,
}


def convert(spec: DatasetSpec, raw_dir: Path) -> dict[str, np.ndarray]:
    """Turn the raw files of ``spec`` in ``raw_dir`` into the arrays of its staged file."""
    try:
        converter = CONVERTERS[spec.name]
    except KeyError:
        raise FetchError(f"{spec.name}: no converter for its raw files; add one to CONVERTERS "
                         "in workbench/data/fetch.py.") from None
    return converter(raw_dir)


# --------------------------------------------------------------------------- staging


def write_npz_atomic(arrays: dict[str, np.ndarray], target: Path) -> Path:
    """Write ``arrays`` so that readers see either no/the old ``target`` or the complete new one.

    The temporary file sits in the same directory (``os.replace`` is atomic only within one file
    system) and is created with the usual umask permissions, not ``tempfile``'s private 0600, so
    a file staged in a shared directory stays readable by the group.
    """
    temp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "wb") as handle:
            np.savez_compressed(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


def _stage(spec: DatasetSpec, raw_dir: Path, target: Path, origin: str) -> Path:
    """Convert, validate with the same checks as loading, and write ``target`` atomically."""
    arrays = convert(spec, raw_dir)
    try:
        content.check_arrays(spec, arrays, target)
    except content.DataError as error:
        problem = getattr(error, "problem", str(error))
        raise FetchError(
            f"{spec.name}: the data converted from {origin} is not valid: {problem}. Nothing "
            "was written. If the official files changed, the converter in "
            "workbench/data/fetch.py or the counts in workbench/data/registry.py need updating."
        ) from error
    try:
        return write_npz_atomic(arrays, target)
    except OSError as error:
        raise FetchError(f"{target}: cannot be written ({error}); free some space or choose "
                         "another directory (`--dir` or WORKBENCH_DATA).") from error


def _valid_staged(spec: DatasetSpec, path: Path, verbose: bool = True) -> bool:
    """True when ``path`` exists and passes the same verification as loading it."""
    if not path.is_file():
        return False
    try:
        content.read_verified(content.Located(spec, path, "staged"))
    except content.DataError as error:
        problem = getattr(error, "problem", error)
        _note(f"{path} exists but fails verification ({problem}); replacing it.", verbose)
        return False
    return True


def _partial_folder(spec: DatasetSpec, directory: Path) -> Path:
    """A private download folder inside ``directory``, unique so two fetches never collide."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".partial-{spec.name}-", dir=directory))
    except OSError as error:
        raise FetchError(f"{directory}: cannot create a download folder there ({error}); choose "
                         "a writable directory (`--dir` or WORKBENCH_DATA).") from error


def fetch(
    spec: DatasetSpec,
    directory: Path,
    *,
    retries: int = 3,
    progress: bool = True,
    timeout: float = 60,
) -> Path:
    """Make ``directory/spec.staged_name`` exist and verify, downloading only when needed.

    A valid staged file is returned untouched. Otherwise every official source is downloaded and
    checked against its published digest, converted, validated and written atomically.
    """
    directory = Path(directory).expanduser()
    target = directory / spec.staged_name
    if _valid_staged(spec, target, progress):
        return target
    if not spec.sources:
        raise FetchError(f"{spec.name}: no download source is registered; stage "
                         f"{spec.staged_name} by hand into {directory}.")
    partial = _partial_folder(spec, directory)
    try:
        for source in spec.sources:
            download(source, partial, retries=retries, progress=progress, timeout=timeout)
        _stage(spec, partial, target, ", ".join(source.url for source in spec.sources))
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    _note(f"{spec.name}: staged {target}", progress)
    return target


# --------------------------------------------------------------------------- Keras' cache


def _from_cached_files(spec: DatasetSpec, files: list[Path]) -> Path | None:
    """Use Keras' cached copies: as they are if already our layout, else converted once."""
    if len(files) == 1 and files[0].name in spec.files:
        return files[0] if _valid_staged(spec, files[0], verbose=False) else None
    folders = {path.parent for path in files}
    if len(folders) != 1:
        return None
    target = settings.download_dir() / spec.staged_name
    if _valid_staged(spec, target, verbose=False):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    return _stage(spec, folders.pop(), target, f"Keras' cache {files[0].parent}")


def from_keras_cache(spec: DatasetSpec, keras_dir: Path) -> Path | None:
    """A staged-layout file made from Keras' dataset cache, or None; never raises.

    Many machines already hold Keras' copies (``~/.keras/datasets``); using them saves a download
    and works offline. Only files readable without pickle are listed in ``spec.keras_cache``.
    """
    files = [Path(keras_dir) / name for name in spec.keras_cache]
    if not files or not all(path.is_file() for path in files):
        return None
    try:
        return _from_cached_files(spec, files)
    except Exception:  # the cache is only a shortcut: on any problem fall back to a download
        return None
