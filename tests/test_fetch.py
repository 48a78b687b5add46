"""Downloading and converting datasets, against a loopback HTTP server and synthetic raw files.

Nothing here touches the internet or the real datasets: each test builds tiny files in the
official formats (IDX, CIFAR binary records, the aclImdb tree, Keras' mnist.npz), serves them
from 127.0.0.1, and points a copy of the registry spec at them with digests computed here.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import io
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from workbench import settings
from workbench.data import fetch, registry, store

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No backoff sleeps, no proxies, and none of the developer's real caches or data."""
    monkeypatch.setattr(fetch, "BACKOFF_BASE", 0.0)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "WORKBENCH_DATA",
                 "WORKBENCH_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


class Server:
    """State shared with the request handler: served folder, request log, injected faults."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        self.faults: dict[str, list[str]] = {}  # file name -> behaviour of the next requests
        self.base = ""

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


def _truncate(handler, name: str) -> None:
    """Announce the full Content-Length, send half the body, hang up."""
    body = (handler.state.root / name).read_bytes()
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body[: len(body) // 2])
    handler.wfile.flush()
    handler.close_connection = True


def _drop(handler, name: str) -> None:
    """Close the connection without any response."""
    handler.close_connection = True


def _unavailable(handler, name: str) -> None:
    handler.send_error(503, "try later")


FAULTS = {"truncate": _truncate, "drop": _drop, "503": _unavailable}


class Handler(http.server.SimpleHTTPRequestHandler):
    state: Server

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(self.state.root), **kwargs)

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        name = self.path.lstrip("/")
        self.state.requests.append(name)
        queue = self.state.faults.get(name)
        if queue:
            FAULTS[queue.pop(0)](self, name)
        else:
            super().do_GET()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    state = Server(root)
    handler = type("BoundHandler", (Handler,), {"state": state})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# --------------------------------------------------------------------------- synthetic raw files

RNG = np.random.default_rng(1234)


def pixels(n: int, shape: tuple[int, ...]) -> np.ndarray:
    return RNG.integers(1, 256, size=(n, *shape), dtype=np.uint8)


def labels(n: int, classes: int) -> np.ndarray:
    return RNG.integers(0, classes, size=n, dtype=np.uint8)


def idx_gz(array: np.ndarray, magic: int | None = None) -> bytes:
    magic = 0x800 | array.ndim if magic is None else magic
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.tobytes(), mtime=0)


def tar_gz(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, points_to in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, points_to
            tar.addfile(info)
    return buffer.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def build_mnist():
    arrays = {"x_train": pixels(4, (28, 28)), "y_train": labels(4, 10),
              "x_test": pixels(2, (28, 28)), "y_test": labels(2, 10)}
    return {"mnist.npz": npz_bytes(arrays)}, arrays, (4, 2)


def build_fashion():
    arrays = {"x_train": pixels(5, (28, 28)), "y_train": labels(5, 10),
              "x_test": pixels(3, (28, 28)), "y_test": labels(3, 10)}
    files = {name: idx_gz(arrays[key]) for key, (name, _ndim) in fetch.IDX_FILES.items()}
    return files, arrays, (5, 3)


def cifar_bytes(images: np.ndarray, label_columns: list[np.ndarray]) -> bytes:
    """Official record layout: label byte(s), then the image as CHW (R plane, G, B)."""
    chw = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([*(col[:, None] for col in label_columns), chw], axis=1).tobytes()


def build_cifar10():
    x_train, y_train = pixels(10, (32, 32, 3)), labels(10, 10)
    x_test, y_test = pixels(3, (32, 32, 3)), labels(3, 10)
    members = {
        f"cifar-10-batches-bin/data_batch_{i + 1}.bin":
            cifar_bytes(x_train[2 * i:2 * i + 2], [y_train[2 * i:2 * i + 2]])
        for i in range(5)
    }
    members["cifar-10-batches-bin/test_batch.bin"] = cifar_bytes(x_test, [y_test])
    members["cifar-10-batches-bin/batches.meta.txt"] = b"airplane\n"
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return {"cifar-10-binary.tar.gz": tar_gz(members)}, arrays, (10, 3)


def build_cifar100():
    x_train, fine_train = pixels(4, (32, 32, 3)), np.array([57, 99, 3, 42], dtype=np.uint8)
    x_test, fine_test = pixels(3, (32, 32, 3)), np.array([0, 64, 88], dtype=np.uint8)
    coarse = lambda fine: (19 - fine % 20).astype(np.uint8)  # noqa: E731  differs from fine
    members = {
        "cifar-100-binary/train.bin": cifar_bytes(x_train, [coarse(fine_train), fine_train]),
        "cifar-100-binary/test.bin": cifar_bytes(x_test, [coarse(fine_test), fine_test]),
    }
    arrays = {"x_train": x_train, "y_train": fine_train, "x_test": x_test, "y_test": fine_test}
    return {"cifar-100-binary.tar.gz": tar_gz(members)}, arrays, (4, 3)


# (path in the archive, text): listed out of order on purpose
IMDB_MEMBERS = {
    "aclImdb/train/pos/3_9.txt": "Great film.",
    "aclImdb/train/neg/10_2.txt": "Dull <br /><br />and long.",
    "aclImdb/train/neg/2_1.txt": "Très mauvais — 👎",
    "aclImdb/test/pos/0_7.txt": "Rather good.",
    "aclImdb/test/neg/5_4.txt": "Meh.",
    "aclImdb/train/unsup/0_0.txt": "unlabelled, ignored",
    "aclImdb/train/labeledBow.feat": "0 0:1",
    "aclImdb/imdb.vocab": "the\nfilm",
    "../escape/1_1.txt": "never written anywhere",
}
# expected order: train then test; by label (neg first) then numeric id (2 before 10)
IMDB_EXPECTED = [  # (text, label, split, rating, id)
    ("Très mauvais — 👎", 0, 0, 1, 2),
    ("Dull <br /><br />and long.", 0, 0, 2, 10),
    ("Great film.", 1, 0, 9, 3),
    ("Meh.", 0, 1, 4, 5),
    ("Rather good.", 1, 1, 7, 0),
]


def build_imdb():
    members = {name: text.encode("utf-8") for name, text in IMDB_MEMBERS.items()}
    links = {"aclImdb/train/pos/99_8.txt": "/etc/passwd"}  # a link is skipped, not followed
    return {"aclImdb_v1.tar.gz": tar_gz(members, links)}, None, (3, 2)


BUILDERS = {
    "mnist": build_mnist,
    "fashion_mnist": build_fashion,
    "cifar10": build_cifar10,
    "cifar100": build_cifar100,
    "imdb": build_imdb,
}


def serve_spec(server: Server, name: str, files: dict[str, bytes], counts: tuple[int, int],
               **digest_override: str) -> registry.DatasetSpec:
    """Write ``files`` to the server and return the registry spec pointed at them.

    Each Source keeps the digest kind the registry uses for it (sha256 or md5), computed here.
    """
    spec = registry.get(name)
    sources = []
    for source in spec.sources:
        data = files[source.filename]
        (server.root / source.filename).write_bytes(data)
        kind = "sha256" if source.sha256 else "md5"
        digest = digest_override.get(kind) or hashlib.new(kind, data).hexdigest()
        sources.append(registry.Source(server.url(source.filename), source.filename,
                                       **{kind: digest}))
    return dataclasses.replace(spec, sources=tuple(sources), counts={"full": counts})


def tiny_mnist(server: Server, **digest_override: str):
    files, arrays, counts = build_mnist()
    return serve_spec(server, "mnist", files, counts, **digest_override), arrays


def read_staged(spec: registry.DatasetSpec, path: Path) -> dict[str, np.ndarray]:
    arrays, variant = store.read_verified(store.Located(spec, path, "staged"))
    assert variant == "full"
    return arrays


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


# --------------------------------------------------------------------------- 1. every converter


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_fetch_converts_each_dataset(server, tmp_path, name):
    files, expected, counts = BUILDERS[name]()
    spec = serve_spec(server, name, files, counts)
    out = tmp_path / "data"

    path = fetch.fetch(spec, out, progress=False, timeout=5)

    assert path == out / spec.staged_name
    assert leftovers(out) == [spec.staged_name]  # no .part, no partial folder, no temp file
    arrays = read_staged(spec, path)
    if expected is None:
        check_imdb(arrays)
        assert not (tmp_path / "escape").exists()
        return
    for key, value in expected.items():
        assert arrays[key].dtype == np.uint8, key
        np.testing.assert_array_equal(arrays[key], value, err_msg=key)


def check_imdb(arrays: dict[str, np.ndarray]) -> None:
    text, offsets = arrays["text_bytes"], arrays["text_offsets"]
    reviews = [text[offsets[i]:offsets[i + 1]].tobytes().decode("utf-8")
               for i in range(len(offsets) - 1)]
    got = list(zip(reviews, arrays["labels"].tolist(), arrays["split"].tolist(),
                   arrays["ratings"].tolist(), arrays["ids"].tolist(), strict=True))
    assert got == IMDB_EXPECTED


def test_cifar_records_turn_chw_into_hwc():
    record = bytes([7]) + bytes([10] * 1024 + [20] * 1024 + [30] * 1024)
    images, labels_ = fetch.cifar_records(record, fetch.CIFAR10, "test")
    assert images.shape == (1, 32, 32, 3)
    assert images[0, 5, 9].tolist() == [10, 20, 30]
    assert labels_.tolist() == [7]


def test_read_idx_refuses_a_wrong_magic_number(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(idx_gz(labels(4, 10), magic=0x803))  # says "images" but has one dim
    with pytest.raises(fetch.FetchError, match="magic number") as caught:
        fetch.read_idx(path, 1)
    assert str(path) in str(caught.value)


def test_read_idx_refuses_a_truncated_file(tmp_path):
    path = tmp_path / "images.gz"
    header = struct.pack(">IIII", 0x803, 2, 28, 28)  # announces 1568 bytes, holds 100
    path.write_bytes(gzip.compress(header + b"\x01" * 100))
    with pytest.raises(fetch.FetchError, match="truncated"):
        fetch.read_idx(path, 3)


def test_converted_data_that_fails_the_checks_is_not_staged(server, tmp_path):
    files, _arrays, _counts = build_mnist()
    spec = serve_spec(server, "mnist", files, (60000, 10000))  # the real counts: 4/2 is wrong
    with pytest.raises(fetch.FetchError, match="4 train / 2 test"):
        fetch.fetch(spec, tmp_path / "data", progress=False)
    assert leftovers(tmp_path / "data") == []


# --------------------------------------------------------------------------- 2. digest mismatch


def test_digest_mismatch_fails_without_leftovers(server, tmp_path):
    spec, _ = tiny_mnist(server, sha256="0" * 64)
    out = tmp_path / "data"
    with pytest.raises(fetch.FetchError) as caught:
        fetch.fetch(spec, out, progress=False, timeout=5)
    message = str(caught.value)
    assert spec.sources[0].url in message
    assert "0" * 64 in message
    assert hashlib.sha256((server.root / "mnist.npz").read_bytes()).hexdigest() in message
    assert leftovers(out) == []
    assert len(server.requests) == 1  # a mismatch is not retried


def test_download_deletes_the_file_on_a_mismatch(server, tmp_path):
    spec, _ = tiny_mnist(server, sha256="0" * 64)
    folder = tmp_path / "raw"
    folder.mkdir()
    with pytest.raises(fetch.FetchError, match="sha256 mismatch"):
        fetch.download(spec.sources[0], folder, progress=False, timeout=5)
    assert leftovers(folder) == []  # neither mnist.npz nor mnist.npz.part


def test_md5_mismatch_names_the_url(server, tmp_path):
    files, _expected, counts = build_fashion()
    spec = serve_spec(server, "fashion_mnist", files, counts, md5="f" * 32)
    with pytest.raises(fetch.FetchError, match="md5 mismatch") as caught:
        fetch.fetch(spec, tmp_path / "data", progress=False, timeout=5)
    assert spec.sources[0].url in str(caught.value)
    assert leftovers(tmp_path / "data") == []


# --------------------------------------------------------------------------- 3./4. retries


@pytest.mark.parametrize("fault", ["truncate", "drop", "503"])
def test_a_failed_first_request_is_retried(server, tmp_path, fault):
    spec, expected = tiny_mnist(server)
    server.faults["mnist.npz"] = [fault]
    path = fetch.fetch(spec, tmp_path / "data", progress=False, timeout=5)
    assert server.requests == ["mnist.npz", "mnist.npz"]
    np.testing.assert_array_equal(read_staged(spec, path)["x_train"], expected["x_train"])


def test_a_server_that_always_fails_gives_up_after_retries(server, tmp_path):
    spec, _ = tiny_mnist(server)
    server.faults["mnist.npz"] = ["truncate", "drop", "503", "truncate"]
    out = tmp_path / "data"
    with pytest.raises(fetch.FetchError, match="after 3 attempts") as caught:
        fetch.fetch(spec, out, retries=3, progress=False, timeout=5)
    assert spec.sources[0].url in str(caught.value)
    assert len(server.requests) == 3
    assert leftovers(out) == []


def test_a_missing_file_is_not_retried(server, tmp_path):
    spec, _ = tiny_mnist(server)
    (server.root / "mnist.npz").unlink()
    with pytest.raises(fetch.FetchError, match="HTTP 404"):
        fetch.fetch(spec, tmp_path / "data", progress=False, timeout=5)
    assert len(server.requests) == 1
    assert leftovers(tmp_path / "data") == []


def test_ctrl_c_during_a_download_leaves_nothing(server, tmp_path, monkeypatch):
    spec, _ = tiny_mnist(server)

    def interrupt(self, done):
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch._Progress, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        fetch.fetch(spec, tmp_path / "data", progress=False, timeout=5)
    assert leftovers(tmp_path / "data") == []
    folder = tmp_path / "raw"
    folder.mkdir()
    with pytest.raises(KeyboardInterrupt):
        fetch.download(spec.sources[0], folder, progress=False, timeout=5)
    assert leftovers(folder) == []  # the .part file is gone too


def test_progress_lines_in_a_log(server, tmp_path, capsys):
    spec, _ = tiny_mnist(server)
    fetch.fetch(spec, tmp_path / "data", progress=True, timeout=5)
    err = capsys.readouterr().err
    assert "mnist.npz" in err and "100%" in err and "MB/s" in err
    assert "\r" not in err  # captured stderr is not a terminal: plain lines only


# --------------------------------------------------------------------------- 5. already staged


def test_a_valid_staged_file_is_returned_without_a_request(server, tmp_path):
    spec, arrays = tiny_mnist(server)
    out = tmp_path / "data"
    out.mkdir()
    staged = fetch.write_npz_atomic(arrays, out / spec.staged_name)
    before = staged.stat().st_mtime_ns
    assert fetch.fetch(spec, out, progress=False, timeout=5) == staged
    assert server.requests == []
    assert staged.stat().st_mtime_ns == before


def test_a_corrupt_staged_file_is_replaced(server, tmp_path):
    spec, arrays = tiny_mnist(server)
    out = tmp_path / "data"
    out.mkdir()
    (out / spec.staged_name).write_bytes(b"not a zip")
    path = fetch.fetch(spec, out, progress=False, timeout=5)
    assert server.requests == ["mnist.npz"]
    np.testing.assert_array_equal(read_staged(spec, path)["y_test"], arrays["y_test"])


# --------------------------------------------------------------------------- 6. Keras' cache


def test_keras_cache_mnist_is_used_as_is(tmp_path):
    files, _arrays, counts = build_mnist()
    spec = dataclasses.replace(registry.get("mnist"), counts={"full": counts})
    keras_dir = settings.keras_cache_dir()
    assert keras_dir == tmp_path / "keras-home" / "datasets"
    assert fetch.from_keras_cache(spec, keras_dir) is None  # empty cache
    keras_dir.mkdir(parents=True)
    (keras_dir / "mnist.npz").write_bytes(files["mnist.npz"])
    assert fetch.from_keras_cache(spec, keras_dir) == keras_dir / "mnist.npz"


def test_keras_cache_with_a_corrupt_file_gives_none(tmp_path):
    keras_dir = settings.keras_cache_dir()
    keras_dir.mkdir(parents=True)
    (keras_dir / "mnist.npz").write_bytes(b"truncated")
    assert fetch.from_keras_cache(registry.get("mnist"), keras_dir) is None


def test_keras_cache_fashion_mnist_is_converted_once(tmp_path, monkeypatch):
    data_dir = tmp_path / "staged"
    monkeypatch.setenv("WORKBENCH_DATA", str(data_dir))
    files, expected, counts = build_fashion()
    spec = dataclasses.replace(registry.get("fashion_mnist"), counts={"full": counts})
    keras_dir = settings.keras_cache_dir()
    cache = keras_dir / "fashion-mnist"
    cache.mkdir(parents=True)
    names = sorted(files)
    for name in names[:-1]:
        (cache / name).write_bytes(files[name])
    assert fetch.from_keras_cache(spec, keras_dir) is None  # one file still missing
    (cache / names[-1]).write_bytes(files[names[-1]])

    path = fetch.from_keras_cache(spec, keras_dir)

    assert path == data_dir / "fashion_mnist.npz"
    arrays = read_staged(spec, path)
    for key, value in expected.items():
        np.testing.assert_array_equal(arrays[key], value, err_msg=key)
    before = path.stat().st_mtime_ns
    assert fetch.from_keras_cache(spec, keras_dir) == path
    assert path.stat().st_mtime_ns == before  # converted once, then reused
    assert leftovers(data_dir) == ["fashion_mnist.npz"]


def test_keras_cache_with_a_damaged_gz_gives_none(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "staged"))
    files, _expected, counts = build_fashion()
    spec = dataclasses.replace(registry.get("fashion_mnist"), counts={"full": counts})
    cache = settings.keras_cache_dir() / "fashion-mnist"
    cache.mkdir(parents=True)
    for name, data in files.items():
        (cache / name).write_bytes(data[: len(data) // 2])
    assert fetch.from_keras_cache(spec, settings.keras_cache_dir()) is None
    assert leftovers(tmp_path / "staged") == []


# --------------------------------------------------------------------------- 7. store.locate


def test_locate_offline_without_data_says_how_to_fetch(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("WORKBENCH_DATA", str(empty))
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    with pytest.raises(store.DatasetMissingError) as caught:
        store.locate("mnist")
    assert "workbench data fetch mnist" in str(caught.value)


def test_locate_downloads_into_workbench_data(server, tmp_path, monkeypatch):
    spec, expected = tiny_mnist(server)
    monkeypatch.setitem(registry.DATASETS, "mnist", spec)
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "staged"))
    monkeypatch.setattr(fetch, "fetch", lambda s, d: _quiet_fetch(s, d))

    located = store.locate("mnist")

    assert located.origin == "downloaded"
    assert located.path == tmp_path / "staged" / "mnist.npz"
    (x_train, _y_train), (_x_test, y_test) = store.load("mnist", quick=False)
    np.testing.assert_array_equal(x_train, expected["x_train"])
    np.testing.assert_array_equal(y_test, expected["y_test"])
    assert server.requests == ["mnist.npz"]  # the second call found the staged file


_REAL_FETCH = fetch.fetch


def _quiet_fetch(spec, directory):
    return _REAL_FETCH(spec, directory, progress=False, timeout=5)
