"""Datasets by name: verified downloads of public raw files into ``$PLEXUS_DATA/raw/<folder>/``.

A :class:`RawSource` lists a dataset's files (:class:`RemoteFile`: name, url, size, sha256). :func:`fetch`
makes them present and verified, :func:`missing_files` says which are not. ``PLEXUS_DATA_MIRROR`` (an
``http(s)://`` base, a ``file://`` URL or a folder, holding ``<folder>/<file name>``) replaces the
public hosts; ``PLEXUS_OFFLINE=1`` forbids the network. Every error is a one-line :class:`DownloadError`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import importlib.metadata
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from plexus.platform.data.paths import data_home
from plexus.platform.errors import DataError
from plexus.platform.locks import file_lock
from plexus.platform.masking import mask_text

__all__ = ["DownloadError", "FetchReport", "RawSource", "RemoteFile", "fetch", "is_offline", "mirror_base",
           "missing_files", "raw_dir"]

MIRROR_ENV = "PLEXUS_DATA_MIRROR"
OFFLINE_ENV = "PLEXUS_OFFLINE"
MARKER = ".verified.json"
_CHUNK = 1 << 16
_LOCK_NOTICE_S = 2.0
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class DownloadError(DataError):
    """A raw file could not be had: unreachable, offline, wrong size or digest, write failure."""

    max_reason = 2000  # messages name a URL and a folder; both must survive intact


@dataclass(frozen=True)
class RemoteFile:
    """One raw file of a dataset: its name in the dataset folder, public URL, byte size and sha256."""

    name: str
    url: str
    size: int
    sha256: str


@dataclass(frozen=True)
class RawSource:
    """The raw files of a dataset, the folder they live in, and the terms that come with them."""

    folder: str
    files: tuple[RemoteFile, ...]
    homepage: str = ""
    license: str = ""
    terms: str = ""


@dataclass
class FetchReport:
    """What :func:`fetch` did: the dataset folder, the file names it downloaded, the bytes it moved."""

    root: Path
    downloaded: list[str] = field(default_factory=list)
    bytes: int = 0


def raw_dir(source: RawSource) -> Path:
    """``data_home()/raw/<folder>``: where the verified raw files of ``source`` live."""
    return data_home() / "raw" / source.folder


def is_offline() -> bool:
    """True when ``PLEXUS_OFFLINE`` is 1, true, yes or on (any case)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def mirror_base() -> str | None:
    """``PLEXUS_DATA_MIRROR`` without its trailing slash, or None when unset or empty."""
    base = os.environ.get(MIRROR_ENV, "").strip()
    return (base.rstrip("/") or base) if base else None


def missing_files(source: RawSource, root: Path | None = None) -> list[RemoteFile]:
    """The files of ``source`` absent from ``root`` (default :func:`raw_dir`) or failing verification.

    A file verifies when its size and then its sha256 match. A verified file is recorded in
    ``.verified.json`` (size, mtime_ns, sha256) so it is not hashed again until it changes.
    """
    return [f for f, _ in _check(source, root or raw_dir(source))]


def fetch(source: RawSource, *, offline: bool | None = None, progress: bool | None = None, timeout: float = 30.0,
          retries: int = 3, echo: Callable[[str], None] | None = None) -> FetchReport:
    """Make every file of ``source`` present and verified in :func:`raw_dir`, downloading what is missing.

    One process downloads a dataset at a time (a lock beside the folder); the others wait, then find
    the files verified. Each file streams into ``<name>.part`` (resumed by an HTTP Range request, up to
    ``retries`` times after a cut), is checked for size and sha256, then atomically replaces ``<name>``;
    a present file that fails verification is replaced, with a notice. ``timeout`` bounds the connect
    and each read. ``offline`` (default :func:`is_offline`) forbids the network, not a local mirror.
    ``progress`` (default: stderr is a terminal) shows a bar per file; ``echo`` gets a line per
    downloaded file and the notices (else stderr). Raises a one-line :class:`DownloadError`, leaving
    no half-written file behind.
    """
    root = raw_dir(source)
    report = FetchReport(root=root)
    if not (todo := _check(source, root)):
        return report
    offline = is_offline() if offline is None else offline
    base = mirror_base()
    local = _local_mirror(base) if base else None
    if offline and local is None:
        raise DownloadError(f"offline ({OFFLINE_ENV}): {source.folder} lacks {', '.join(f.name for f, _ in todo)}; "
                            f"put them in {root} or set {MIRROR_ENV} to a local folder")
    say = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    bar = _progress_bar() if (sys.stderr.isatty() if progress is None else progress) else None
    with _lock(root, say), bar or contextlib.nullcontext():
        for f, why in _check(source, root):
            if why:
                say(f"replacing {root / f.name}: {why}")
            if local is not None:
                src: str | Path = local / source.folder / f.name
            else:
                src = f"{base}/{urllib.parse.quote(source.folder)}/{urllib.parse.quote(f.name)}" if base else f.url
            task = bar.add_task(f.name, total=f.size) if bar else None
            tick = (lambda done, task=task: bar.update(task, completed=done)) if bar else (lambda done: None)
            job = _Transfer(f, src, root / f.name, base=base, timeout=timeout, tick=tick)
            report.bytes += job.run(retries)
            report.downloaded.append(f.name)
            if echo is not None:
                echo(f"downloaded {f.name} ({_human(f.size)}) from {job.shown}")
            _update_marker(root, {f.name: _entry(root / f.name, f)})
    return report


def _check(source: RawSource, root: Path) -> list[tuple[RemoteFile, str]]:
    """(file, why) for each file that is absent (why empty) or fails verification (why says how)."""
    marker = _read_marker(root)
    out: list[tuple[RemoteFile, str]] = []
    verified: dict[str, dict[str, Any]] = {}
    for f in source.files:
        path = root / f.name
        try:
            entry = _entry(path, f)
            if entry["size"] != f.size:
                out.append((f, f"its size is {entry['size']:,} bytes, not the expected {f.size:,}"))
            elif marker.get(f.name) != entry and (digest := _sha256_file(path)) != f.sha256.lower():
                out.append((f, f"its sha256 is {digest}, not the expected {f.sha256.lower()}"))
            elif marker.get(f.name) != entry:
                verified[f.name] = entry
        except OSError as exc:
            out.append((f, "" if isinstance(exc, FileNotFoundError) else f"it cannot be read ({exc.strerror})"))
    if verified:
        _update_marker(root, verified)
    return out


def _entry(path: Path, f: RemoteFile) -> dict[str, Any]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": f.sha256.lower()}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _read_marker(root: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((root / MARKER).read_text())
        return data if isinstance(data, dict) else {}
    return {}


def _update_marker(root: Path, entries: dict[str, Any]) -> None:
    """Atomically rewrite the marker with ``entries`` merged in; a read-only folder only costs a re-hash."""
    with contextlib.suppress(OSError):
        fd, tmp = tempfile.mkstemp(prefix=MARKER, dir=root)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump({**_read_marker(root), **entries}, fh, indent=1, sort_keys=True)
            os.replace(tmp, root / MARKER)
        finally:
            Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def _lock(root: Path, say: Callable[[str], None]) -> Iterator[None]:
    """Hold ``raw/.<folder>.lock`` exclusively; say so once when waiting over two seconds."""
    lock = root.parent / f".{root.name}.lock"
    held = contextlib.ExitStack()
    try:
        root.mkdir(parents=True, exist_ok=True)
        held.enter_context(file_lock(lock, notice_after=_LOCK_NOTICE_S, notice=lambda _waited: say(
            f"waiting for another process downloading {root.name} (lock {lock})")))
    except OSError as exc:
        raise DownloadError(f"cannot create {root}: {exc.strerror or exc}") from None
    with held:
        yield


def _local_mirror(base: str) -> Path | None:
    """The folder of a ``file://`` or plain-path mirror; None for an http(s) mirror."""
    if re.match(r"^https?://", base, re.IGNORECASE):
        return None
    if base.lower().startswith("file:"):
        return Path(urllib.request.url2pathname(urllib.parse.urlsplit(base).path) or "/")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", base):
        raise DownloadError(f"{MIRROR_ENV}={mask_text(base)} is not an http(s):// URL, a file:// URL or a folder")
    return Path(base).expanduser()


def _human(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 10**6 else f"{n / 1e3:.1f} KB" if n >= 1000 else f"{n} bytes"


@lru_cache(maxsize=1)
def _user_agent() -> str:
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        return f"plexus/{importlib.metadata.version('plexus-ml')}"
    return "plexus/dev"


def _progress_bar() -> Any:
    """A rich progress bar on stderr, one row per file (a context manager: it shows while entered)."""
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    return Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                    console=Console(stderr=True))


class _Cut(Exception):
    """The connection ended before the body did; the next try resumes."""


class _Resumable(DownloadError):
    """A failed download whose ``.part`` file is kept for the next fetch to resume."""


def _write_chunk(fh: IO[bytes], data: bytes) -> None:
    """Write one chunk to a ``.part`` file: the one place bytes reach the disk (tests inject errors here)."""
    fh.write(data)


class _Transfer:
    """One file's way from ``src`` (URL or local mirror path) through ``<name>.part`` into ``dest``.

    Network and mirror-read failures become DownloadError (or _Cut) where they happen: an OSError
    that reaches :meth:`run` comes from the disk."""

    def __init__(self, f: RemoteFile, src: str | Path, dest: Path, *, base: str | None, timeout: float,
                 tick: Callable[[int], object]):
        self.f, self.src, self.dest, self.base, self.timeout, self.tick = f, src, dest, base, timeout, tick
        self.shown = str(src) if isinstance(src, Path) else mask_text(src)
        self.url, self.auth = _split_credentials(src) if isinstance(src, str) else ("", None)
        self.path = dest.with_name(dest.name + ".part")
        self.fh: Any = None
        self.size, self.received, self.digest = 0, 0, hashlib.sha256()

    def run(self, retries: int) -> int:
        """Fetch, verify and move into place; returns the bytes moved. A resumed ``.part`` that does not
        verify is discarded and the file fetched once more from the start."""
        f, keep = self.f, False
        try:
            for fresh in (False, True):
                resumed = self._open_part(resume=not fresh and isinstance(self.src, str))
                try:
                    self._copy() if isinstance(self.src, Path) else self._download(retries)
                except _Resumable:
                    keep = True
                    raise
                if self.size == f.size and self.digest.hexdigest() == f.sha256.lower():
                    self._commit()
                    return self.received
                if fresh or not resumed:
                    break
            same = self.size == f.size
            want = f"sha256 {f.sha256.lower()}" if same else f"{f.size:,} bytes"
            got = f"sha256 {self.digest.hexdigest()}" if same else f"{self.size:,} bytes"
            raise DownloadError(f"{f.name} from {self.shown} does not verify: expected {want}, got {got}; "
                                f"nothing was kept in {self.dest.parent}")
        except OSError as exc:
            raise DownloadError(f"cannot write {self.path}: {exc.strerror or exc}; the partial file was deleted "
                                f"and nothing was kept in {self.dest.parent}") from None
        finally:
            if self.fh is not None:
                with contextlib.suppress(OSError):
                    self.fh.close()
            if not (keep and self.size):
                with contextlib.suppress(OSError):
                    self.path.unlink()

    def _open_part(self, resume: bool) -> bool:
        """Open the ``.part`` for appending; ``resume`` keeps (and hashes) a shorter one already there."""
        if self.fh is not None:
            self.fh.close()
        self.size, self.digest = 0, hashlib.sha256()
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a name may hold a subfolder
        if resume and self.path.exists() and self.path.stat().st_size < self.f.size:
            with open(self.path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    self.digest.update(chunk)
                    self.size += len(chunk)
        self.fh = open(self.path, "ab" if self.size else "wb")  # noqa: SIM115 (closed by run)
        return self.size > 0

    def _write(self, data: bytes) -> None:
        _write_chunk(self.fh, data)
        self.digest.update(data)
        self.size += len(data)
        self.received += len(data)
        self.tick(self.size)

    def _restart(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()
        self.size, self.digest = 0, hashlib.sha256()

    def _commit(self) -> None:
        """fsync, close and atomically replace ``dest``."""
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.path, self.dest)

    def _unavailable(self, reason: str) -> DownloadError:
        hint = f"check {MIRROR_ENV}={mask_text(self.base)}" if self.base else f"set {MIRROR_ENV} to a mirror"
        return DownloadError(f"cannot download {self.shown} ({reason}); {hint}, or put the files in "
                             f"{self.dest.parent} by hand")

    def _resumable(self, what: str) -> DownloadError:
        kept = f"; {self.size:,} of {self.f.size:,} bytes kept in {self.path} to resume next time" if self.size else ""
        return _Resumable(f"download of {self.f.name} from {self.shown} {what}{kept}")

    def _copy(self) -> None:
        """Stream a local mirror file into the empty ``.part``; stops once past the expected size."""
        try:
            fh = open(self.src, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise self._unavailable(exc.strerror or str(exc)) from None
        with fh:
            while self.size <= self.f.size:
                try:
                    chunk = fh.read(_CHUNK)
                except OSError as exc:
                    raise self._unavailable(exc.strerror or str(exc)) from None
                if not chunk:
                    break
                self._write(chunk)

    def _download(self, retries: int) -> None:
        """Stream the URL into the ``.part``, resuming with a Range request after a cut, ``retries`` times."""
        for tries in range(1, retries + 2):
            try:
                return self._attempt(may_retry=tries <= retries)
            except _Cut as cut:
                if tries > retries:
                    raise self._resumable(f"failed after {tries} tries ({cut})") from None
                time.sleep(min(0.2 * tries, 2.0))

    def _attempt(self, may_retry: bool) -> None:
        """One GET of the rest of the file; raises :class:`_Cut` when the body ends early."""
        offset = self.size
        req = urllib.request.Request(self.url, headers={"User-Agent": _user_agent()})
        if offset:
            req.add_header("Range", f"bytes={offset}-")  # a plain header: it survives redirects
        if self.auth:
            req.add_unredirected_header("Authorization", self.auth)  # never sent to another host
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416 and offset:
                self._restart()
                raise _Cut("range not satisfiable") from None
            if exc.code in _RETRY_STATUS and may_retry:
                raise _Cut(f"HTTP {exc.code}") from None
            raise self._unavailable(f"HTTP {exc.code} {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:  # URLError, or a reset before the status line
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(reason, TimeoutError):
                raise self._resumable(f"timed out after {self.timeout:g}s without data") from None
            if isinstance(reason, (ConnectionResetError, ConnectionAbortedError, http.client.HTTPException)):
                raise _Cut(str(reason) or type(reason).__name__) from None
            raise self._unavailable(getattr(reason, "strerror", None) or str(reason)) from None
        with resp:
            resumed_at = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", "") or "")
            if offset and (resp.status != 206 or not resumed_at or int(resumed_at.group(1)) != offset):
                self._restart()
                if resp.status == 206:
                    raise _Cut("the server resumed at another byte")
            length = resp.headers.get("Content-Length", "") or ""
            end = self.size + int(length) if length.isdigit() else self.f.size
            while self.size <= self.f.size:
                try:
                    chunk = resp.read1(_CHUNK)
                except TimeoutError:
                    raise self._resumable(f"timed out after {self.timeout:g}s without data") from None
                except (OSError, http.client.HTTPException) as exc:
                    raise _Cut(str(exc) or type(exc).__name__) from None
                if not chunk:
                    break
                self._write(chunk)
        if self.size < end and self.size <= self.f.size:
            raise _Cut(f"connection closed at byte {self.size:,} of {end:,}")


def _split_credentials(url: str) -> tuple[str, str | None]:
    """``url`` without ``user:pass@``, and the Basic Authorization header they make (None without)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    user, pw = urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
    auth = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), auth
