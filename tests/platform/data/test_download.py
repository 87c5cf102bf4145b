"""Verified downloads of raw dataset files, against a real HTTP server on 127.0.0.1 (no mocks of urllib)."""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from plexus.platform.data import download
from plexus.platform.data.download import (
    DownloadError,
    RawSource,
    RemoteFile,
    fetch,
    is_offline,
    mirror_base,
    missing_files,
    raw_dir,
)

MIRROR = "PLEXUS_DATA_MIRROR"


class _Server(ThreadingHTTPServer):
    """Serves ``files`` (honouring ``Range: bytes=N-``) or runs a ``custom`` behaviour; records every GET."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.custom: dict[str, Callable[[_Handler, int], None]] = {}
        self.seen: list[tuple[str, Message]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"

    def gets(self, path: str) -> list[Message]:
        """The headers of each GET of ``path``, in order."""
        with self.lock:
            return [h for p, h in self.seen if p == path]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        with srv.lock:
            n = sum(p == self.path for p, _ in srv.seen)
            srv.seen.append((self.path, self.headers))
        if self.path in srv.custom:
            srv.custom[self.path](self, n)
        elif self.path in srv.files:
            self.send_body(srv.files[self.path])
        else:
            self.send_error(404, "Not Found")

    def send_body(self, data: bytes, *, length: int | None = None, upto: int | None = None) -> None:
        """200 (or 206 for a Range request) with ``data``; ``upto`` stops writing early (a cut)."""
        start = 0
        if rng := self.headers.get("Range"):
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start if length is None else length))
        self.end_headers()
        self.wfile.write(data[start:upto])
        self.wfile.flush()


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
    yield srv
    srv.stop.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEXUS_DATA", str(tmp_path / "home"))
    monkeypatch.delenv(MIRROR, raising=False)
    monkeypatch.delenv("PLEXUS_OFFLINE", raising=False)


def _payload(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _remote(name: str, url: str, data: bytes) -> RemoteFile:
    return RemoteFile(name=name, url=url, size=len(data), sha256=_sha(data))


def _source(*files: RemoteFile) -> RawSource:
    return RawSource(folder="toy", files=files)


def _redirect(location: str) -> Callable[[_Handler, int], None]:
    def moved(h: _Handler, n: int) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return moved


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_env_helpers_and_raw_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert raw_dir(_source()) == tmp_path / "home" / "raw" / "toy"
    assert mirror_base() is None
    for value, base in [("", None), ("https://m.example.org/data/", "https://m.example.org/data"),
                        ("file:///srv/m/", "file:///srv/m"), ("/srv/mirror//", "/srv/mirror")]:
        monkeypatch.setenv(MIRROR, value)
        assert mirror_base() == base
    for value, offline in [("1", True), ("TRUE", True), ("yes", True), ("On", True), ("", False), ("0", False),
                           ("off", False), ("no", False)]:
        monkeypatch.setenv("PLEXUS_OFFLINE", value)
        assert is_offline() is offline


def test_fetch_downloads_verifies_and_a_second_fetch_is_a_no_op(server: _Server,
                                                                  capsys: pytest.CaptureFixture) -> None:
    a, b = _payload(200_000, 1), _payload(1234, 2)
    server.files = {"/d/a.bin": a, "/d/b.csv": b}
    src = _source(_remote("a.bin", server.url("/d/a.bin"), a), _remote("b.csv", server.url("/d/b.csv"), b))
    lines: list[str] = []
    report = fetch(src, progress=True, echo=lines.append)
    root = raw_dir(src)
    assert report.root == root
    assert report.downloaded == ["a.bin", "b.csv"] and report.bytes == len(a) + len(b)
    assert (root / "a.bin").read_bytes() == a and (root / "b.csv").read_bytes() == b
    assert len(lines) == 2 and "a.bin" in lines[0] and server.url("/d/a.bin") in lines[0]
    assert lines[1] == f"downloaded b.csv (1.2 KB) from {server.url('/d/b.csv')}"
    assert "a.bin" in capsys.readouterr().err  # the progress bar
    assert all(h["User-Agent"].startswith("plexus/") for _, h in server.seen)
    assert sorted(p.name for p in root.iterdir()) == [".verified.json", "a.bin", "b.csv"]
    assert json.loads((root / ".verified.json").read_text())["a.bin"]["sha256"] == _sha(a)
    requests = len(server.seen)
    again = fetch(src, progress=False, echo=lines.append)
    assert again.downloaded == [] and again.bytes == 0
    assert len(server.seen) == requests and len(lines) == 2
    assert missing_files(src) == []


def test_http_404_is_one_line_naming_url_mirror_variable_and_folder(server: _Server) -> None:
    src = _source(_remote("gone.bin", server.url("/gone.bin"), b"x" * 10))
    with pytest.raises(DownloadError) as err:
        fetch(src, progress=False)
    msg = str(err.value)
    assert msg.startswith(f"cannot download {server.url('/gone.bin')} (HTTP 404 ")
    assert "\n" not in msg and MIRROR in msg and f"put the files in {raw_dir(src)} by hand" in msg
    assert list(raw_dir(src).iterdir()) == []


def test_unreachable_host_is_one_line(server: _Server) -> None:
    url = f"http://127.0.0.1:{_dead_port()}/x.bin"
    with pytest.raises(DownloadError, match=r"^cannot download .*x\.bin \(.*refused.*\); set PLEXUS_DATA_MIRROR"):
        fetch(_source(_remote("x.bin", url, b"abc")), progress=False)


@pytest.mark.parametrize("served", ["other_bytes", "short"])
def test_wrong_content_names_expected_and_actual_and_keeps_nothing(server: _Server, served: str) -> None:
    data = _payload(5000)
    bad = _payload(5000, 9) if served == "other_bytes" else data[:3000]
    server.files["/f.bin"] = bad
    src = _source(_remote("f.bin", server.url("/f.bin"), data))
    with pytest.raises(DownloadError) as err:
        fetch(src, progress=False)
    msg = str(err.value)
    assert "f.bin" in msg and server.url("/f.bin") in msg
    if served == "other_bytes":
        assert f"expected sha256 {_sha(data)}, got sha256 {_sha(bad)}" in msg
    else:
        assert "expected 5,000 bytes, got 3,000 bytes" in msg
    assert list(raw_dir(src).iterdir()) == []


def test_a_cut_connection_is_resumed_with_a_range_request(server: _Server) -> None:
    data = _payload(300_000)
    half = len(data) // 2

    def cut_once(h: _Handler, n: int) -> None:
        h.send_body(data, length=len(data), upto=half) if n == 0 else h.send_body(data)

    server.custom["/big.bin"] = cut_once
    src = _source(_remote("big.bin", server.url("/big.bin"), data))
    report = fetch(src, progress=False)
    first, second = server.gets("/big.bin")
    assert first.get("Range") is None and second["Range"] == f"bytes={half}-"
    assert report.bytes == len(data) and (raw_dir(src) / "big.bin").read_bytes() == data
    assert not (raw_dir(src) / "big.bin.part").exists()


def test_retries_run_out_the_part_is_kept_and_the_next_fetch_resumes(server: _Server) -> None:
    data = _payload(100_000)
    server.custom["/c.bin"] = lambda h, n: h.send_body(data, length=len(data), upto=len(data) // 4 * (n + 1))
    src = _source(_remote("c.bin", server.url("/c.bin"), data))
    with pytest.raises(DownloadError, match=r"c\.bin .* failed after 2 tries .* 50,000 of 100,000 bytes kept"):
        fetch(src, progress=False, retries=1)
    assert (raw_dir(src) / "c.bin.part").read_bytes() == data[:50_000]
    del server.custom["/c.bin"]
    server.files["/c.bin"] = data
    report = fetch(src, progress=False)
    assert server.gets("/c.bin")[-1]["Range"] == "bytes=50000-" and report.bytes == 50_000
    assert (raw_dir(src) / "c.bin").read_bytes() == data


def test_a_stalled_server_times_out_quickly_and_keeps_the_part(server: _Server) -> None:
    data = _payload(100_000)

    def stall(h: _Handler, n: int) -> None:
        h.send_body(data, length=len(data), upto=1000)
        h.server.stop.wait(30)

    server.custom["/s.bin"] = stall
    src = _source(_remote("s.bin", server.url("/s.bin"), data))
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"s\.bin .*timed out after 1s"):
        fetch(src, progress=False, timeout=1.0)
    assert time.monotonic() - start < 5
    assert (raw_dir(src) / "s.bin.part").stat().st_size == 1000 and not (raw_dir(src) / "s.bin").exists()


def test_a_redirect_is_followed_and_the_range_header_survives_it(server: _Server) -> None:
    data = _payload(50_000)
    server.files["/real/r.bin"] = data
    server.custom["/old/r.bin"] = _redirect("/real/r.bin")
    src = _source(_remote("r.bin", server.url("/old/r.bin"), data))
    raw_dir(src).mkdir(parents=True)
    (raw_dir(src) / "r.bin.part").write_bytes(data[:20_000])  # left by an interrupted fetch
    report = fetch(src, progress=False)
    assert server.gets("/old/r.bin")[0]["Range"] == "bytes=20000-"
    assert server.gets("/real/r.bin")[0]["Range"] == "bytes=20000-"
    assert report.bytes == 30_000 and (raw_dir(src) / "r.bin").read_bytes() == data


@pytest.mark.parametrize("form", ["file_url", "folder"])
def test_a_local_mirror_is_copied_and_verified(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               form: str) -> None:
    data = _payload(70_000)
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "m.bin").write_bytes(data)
    monkeypatch.setenv(MIRROR, mirror.as_uri() + "/" if form == "file_url" else str(mirror))
    src = _source(_remote("m.bin", server.url("/m.bin"), data), _remote("gone.bin", server.url("/g"), b"zz"))
    lines: list[str] = []
    with pytest.raises(DownloadError) as err:
        fetch(src, progress=False, echo=lines.append)
    assert str(err.value).startswith(f"cannot download {mirror / 'toy' / 'gone.bin'} (No such file")
    assert MIRROR in str(err.value) and str(raw_dir(src)) in str(err.value)
    assert (raw_dir(src) / "m.bin").read_bytes() == data
    assert lines == [f"downloaded m.bin (70.0 KB) from {mirror / 'toy' / 'm.bin'}"]
    assert server.seen == []


@pytest.mark.parametrize("public", ["dead_port", "watched"])
def test_an_http_mirror_replaces_the_public_host(server: _Server, monkeypatch: pytest.MonkeyPatch,
                                                 public: str) -> None:
    data = _payload(40_000)
    server.files["/mirror/toy/h.bin"] = data
    server.files["/public/h.bin"] = data
    url = f"http://127.0.0.1:{_dead_port()}/h.bin" if public == "dead_port" else server.url("/public/h.bin")
    monkeypatch.setenv(MIRROR, server.url("/mirror/"))
    src = _source(_remote("h.bin", url, data))
    assert fetch(src, progress=False).downloaded == ["h.bin"]
    assert [p for p, _ in server.seen] == ["/mirror/toy/h.bin"]
    assert (raw_dir(src) / "h.bin").read_bytes() == data


def test_a_mirror_password_is_sent_but_never_printed(server: _Server, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    data = _payload(3000)
    server.files["/m/toy/p.bin"] = data
    monkeypatch.setenv(MIRROR, f"http://alice:s3cret@127.0.0.1:{server.server_port}/m")
    lines: list[str] = []
    fetch(_source(_remote("p.bin", "https://example.org/p.bin", data)), progress=True, echo=lines.append)
    assert server.gets("/m/toy/p.bin")[0]["Authorization"] == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert lines == [f"downloaded p.bin (3.0 KB) from http://alice:***@127.0.0.1:{server.server_port}/m/toy/p.bin"]
    with pytest.raises(DownloadError) as err:
        fetch(_source(_remote("q.bin", "https://example.org/q.bin", data)), progress=True, echo=lines.append)
    assert "alice:***@" in str(err.value) and "HTTP 404" in str(err.value)
    assert "s3cret" not in str(err.value) + "".join(lines) + "".join(capsys.readouterr())
    server.files["/elsewhere/r.bin"] = data  # a redirect target never receives the credentials
    server.custom["/m/toy/r.bin"] = _redirect("/elsewhere/r.bin")
    fetch(_source(_remote("r.bin", "https://example.org/r.bin", data)), progress=False)
    assert "Authorization" in server.gets("/m/toy/r.bin")[0]
    assert "Authorization" not in server.gets("/elsewhere/r.bin")[0]


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_offline_with_files_missing_never_touches_the_network(server: _Server, monkeypatch: pytest.MonkeyPatch,
                                                              how: str) -> None:
    data = _payload(100)
    server.files["/o.bin"] = server.files["/m/toy/o.bin"] = data
    src = _source(_remote("o.bin", server.url("/o.bin"), data))
    if how == "environment":
        monkeypatch.setenv("PLEXUS_OFFLINE", "Yes")
        monkeypatch.setenv(MIRROR, server.url("/m"))  # an http mirror is the network too
    with pytest.raises(DownloadError) as err:
        fetch(src, progress=False, offline=True if how == "argument" else None)
    assert str(err.value) == (f"offline (PLEXUS_OFFLINE): toy lacks o.bin; put them in {raw_dir(src)} "
                              f"or set PLEXUS_DATA_MIRROR to a local folder")
    assert server.seen == []


def test_offline_with_a_folder_mirror_works(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _payload(100)
    (tmp_path / "mirror" / "toy").mkdir(parents=True)
    (tmp_path / "mirror" / "toy" / "o.bin").write_bytes(data)
    monkeypatch.setenv(MIRROR, str(tmp_path / "mirror"))
    src = _source(_remote("o.bin", server.url("/o.bin"), data))
    assert fetch(src, progress=False, offline=True).downloaded == ["o.bin"]
    assert (raw_dir(src) / "o.bin").read_bytes() == data and server.seen == []


_CHILD = """
import json, sys
from plexus.platform.data.download import RawSource, RemoteFile, fetch
f = json.loads(sys.argv[1])
print("start", flush=True)
report = fetch(RawSource("toy", (RemoteFile(**f),)), progress=False, echo=lambda s: print(s, flush=True))
print(json.dumps(report.downloaded), flush=True)
"""


def test_two_processes_fetching_at_once_download_once(server: _Server) -> None:
    data = _payload(200_000)
    go = threading.Event()

    def gated(h: _Handler, n: int) -> None:
        if n == 0:
            go.wait(30)  # the first download is held until both processes are inside fetch()
        h.send_body(data)

    server.custom["/p.bin"] = gated
    spec = json.dumps({"name": "p.bin", "url": server.url("/p.bin"), "size": len(data), "sha256": _sha(data)})
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, spec], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "start", p.stderr and p.stderr.read()
        time.sleep(0.5)
        go.set()
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        go.set()
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    assert len(server.gets("/p.bin")) == 1
    assert sorted(json.loads(out.splitlines()[-1]) for out, _ in outs) == [[], ["p.bin"]]
    assert (Path(os.environ["PLEXUS_DATA"]) / "raw" / "toy" / "p.bin").read_bytes() == data


def test_a_full_disk_leaves_nothing_half_written(server: _Server, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tiny tmpfs needs root and mount(8)")
    home = tmp_path / "tiny"
    home.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(home)], check=False,
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        monkeypatch.setenv("PLEXUS_DATA", str(home))
        data = _payload(512_000)
        server.files["/big.bin"] = data
        src = _source(_remote("big.bin", server.url("/big.bin"), data))
        with pytest.raises(DownloadError) as err:
            fetch(src, progress=False)
        msg = str(err.value)
        assert f"cannot write {raw_dir(src) / 'big.bin.part'}: No space left on device" in msg
        assert list(raw_dir(src).iterdir()) == []
    finally:
        subprocess.run(["umount", str(home)], check=False)


def test_a_write_error_deletes_the_part_and_names_the_os_error(server: _Server,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = _payload(200_000)
    server.files["/w.bin"] = data
    writes: list[int] = []

    def failing_write(fh: object, chunk: bytes) -> None:
        writes.append(len(chunk))
        if len(writes) == 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        fh.write(chunk)  # type: ignore[attr-defined]

    monkeypatch.setattr(download, "_write_chunk", failing_write)
    src = _source(_remote("w.bin", server.url("/w.bin"), data))
    with pytest.raises(DownloadError, match=r"cannot write .*w\.bin\.part: Input/output error"):
        fetch(src, progress=False)
    assert list(raw_dir(src).iterdir()) == []


@pytest.mark.parametrize("bad", ["same_size", "truncated"])
def test_a_hand_placed_wrong_file_is_replaced_with_a_notice(server: _Server, capsys: pytest.CaptureFixture,
                                                            bad: str) -> None:
    data = _payload(8000)
    server.files["/h.bin"] = data
    src = _source(_remote("h.bin", server.url("/h.bin"), data))
    wrong = _payload(8000, 5) if bad == "same_size" else data[:100]
    raw_dir(src).mkdir(parents=True)
    (raw_dir(src) / "h.bin").write_bytes(wrong)
    assert missing_files(src) == list(src.files)
    assert fetch(src, progress=False).downloaded == ["h.bin"]  # no echo: the notice goes to stderr
    why = f"its sha256 is {_sha(wrong)}" if bad == "same_size" else "its size is 100 bytes, not the expected 8,000"
    assert f"replacing {raw_dir(src) / 'h.bin'}: {why}" in capsys.readouterr().err
    assert (raw_dir(src) / "h.bin").read_bytes() == data


def test_a_hand_placed_correct_file_is_hashed_once_and_not_downloaded(server: _Server,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    data = _payload(8000)
    server.files["/h.bin"] = data
    src = _source(_remote("h.bin", server.url("/h.bin"), data))
    path = raw_dir(src) / "h.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    hashed: list[Path] = []
    real = download._sha256_file
    monkeypatch.setattr(download, "_sha256_file", lambda p: hashed.append(p) or real(p))
    assert fetch(src, progress=False).downloaded == [] and server.seen == []
    assert missing_files(src) == [] and hashed == [path]  # the marker spares a second hash
    path.write_bytes(_payload(8000, 3))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert missing_files(src) == list(src.files) and len(hashed) == 2
