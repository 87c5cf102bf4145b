"""Encoded-array cache under ``cache_dir("tabular", fingerprint)``.

The fingerprint is the sha256 of the raw files' bytes, the schema, the encoder
version and the split/loader options. A cache entry is a directory of ``.npy``
arrays plus ``meta.json``; it is written into a temporary sibling directory and
published with one ``os.replace``, so a crash or a bad input never leaves a
half-written entry and never touches an existing one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from plexus.platform.data.paths import cache_dir
from plexus.platform.data.tabular.encoder import ENCODER_VERSION

__all__ = ["cache_path", "fingerprint", "load_cached", "save_cached"]

_META = "meta.json"


def fingerprint(files: Iterable[str | os.PathLike], schema: dict[str, Any], options: dict[str, Any]) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(b"file\0")
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    h.update(json.dumps(schema, sort_keys=True, default=str).encode())
    h.update(ENCODER_VERSION.encode())
    h.update(json.dumps(options, sort_keys=True, default=str).encode())
    return h.hexdigest()


def cache_path(fp: str) -> Path:
    return cache_dir("tabular") / fp


def load_cached(fp: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """``(arrays, meta)`` of a complete entry, or ``None``."""
    d = cache_path(fp)
    meta_file = d / _META
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text())
        arrays = {name: np.load(d / f"{name}.npy", allow_pickle=False) for name in meta["arrays"]}
    except (OSError, ValueError, KeyError):
        return None
    return arrays, meta


def _remove_orphans(root: Path) -> None:
    """Delete ``.tmp-<fp>-<pid>-*`` folders left by writers that were killed (their pid is gone)."""
    for d in root.glob(".tmp-*-*-*"):
        try:
            pid = int(d.name.split("-")[2])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (ValueError, IndexError, OSError):
            continue


def save_cached(fp: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    root = cache_dir("tabular")
    final = root / fp
    _remove_orphans(root)
    tmp = root / f".tmp-{fp[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        meta = dict(meta, arrays=sorted(arrays))
        (tmp / _META).write_text(json.dumps(meta))
        if final.exists() and not (final / _META).is_file():
            shutil.rmtree(final, ignore_errors=True)  # a stale, incomplete entry
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / _META).is_file():  # someone else published concurrently: keep theirs
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
