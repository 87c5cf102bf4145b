"""Encoding throughput: a ``repeat`` x criteo-10k Criteo-format file (200,000 rows by default) encoded by
Plexus' tabular service with a fresh cache (read, split 8:1:1, fit the encoder on train, encode, write the
cache), then loaded again from the cache; rows/s and the peak resident memory (``ru_maxrss``).
Writes ``encode.json`` and ``encode.md``.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from plexus.evaluation.bench._harness import RESULTS, describe, machine_info, write_result

__all__ = ["DESCRIPTION", "run"]

DESCRIPTION = "Criteo-format encoding (criteo-10k x 20 = 200,000 rows): rows/s and peak memory (encode.md/.json)."


def run(repeat: int = 20, out: Path | None = RESULTS) -> dict[str, Any]:
    """Encode ``repeat`` copies of criteo-10k once cold and once from the cache.

    Args:
        repeat: copies of criteo-10k (20 -> 200,000 rows).
        out: results folder for encode.json/.md (None: write nothing).
    """
    from plexus.platform.data.datasets_tabular import criteo_schema
    from plexus.platform.data.sources import ensure_raw

    raw = ensure_raw("criteo-10k")  # fetched on first use (mirror: PLEXUS_DATA_MIRROR)
    src = (raw / "train_examples.txt").read_bytes()
    old_home = os.environ.get("PLEXUS_DATA")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PLEXUS_DATA"] = str(Path(tmp) / "home")  # fresh cache
        try:
            from plexus.platform.data.tabular import load_tabular

            path = Path(tmp) / "criteo_repeated.txt"
            path.write_bytes(src * repeat)
            warm_up = Path(tmp) / "criteo_first_rows.txt"  # the readers' lazy imports happen outside the timing
            warm_up.write_bytes(b"".join(src.splitlines(keepends=True)[:1000]))
            load_tabular([warm_up], criteo_schema(), name="criteo-warm-up", split="random", seed=0)
            rows = src.count(b"\n") * repeat
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t0 = time.perf_counter()
            ds = load_tabular([path], criteo_schema(), name=f"criteo-{rows}", split="random", seed=0)
            cold = time.perf_counter() - t0
            t1 = time.perf_counter()
            load_tabular([path], criteo_schema(), name=f"criteo-{rows}", split="random", seed=0)
            warm = time.perf_counter() - t1
        finally:
            if old_home is None:
                os.environ.pop("PLEXUS_DATA", None)
            else:
                os.environ["PLEXUS_DATA"] = old_home
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert sum(ds.num_rows(s) for s in ("train", "val", "test")) == rows
    info = machine_info()
    result = {
        "rows": rows, "file_mb": round(len(src) * repeat / 2**20, 1),
        "cold_seconds": round(cold, 2), "rows_per_second": round(rows / cold),
        "cached_seconds": round(warm, 3), "peak_rss_mb": round(peak_mb, 1),
        "rss_before_mb": round(rss0 / 1024, 1), "machine": describe(info), "machine_info": info,
        "note": ("cold = read + split + fit + encode + cache write, after a 1,000-row warm-up that loads the readers' "
                 "modules; cached = fingerprint + cache read"),
    }
    if out is not None:
        md = [f"# Tabular encoding benchmark (criteo-10k x {repeat})", "",
              "| rows | file MB | cold s | rows/s | cached s | peak RSS MB |", "|---|---|---|---|---|---|",
              (f"| {rows:,} | {result['file_mb']} | {result['cold_seconds']} | {result['rows_per_second']:,} | "
               f"{result['cached_seconds']} | {result['peak_rss_mb']} |"), "",
              f"Machine: {result['machine']}. {result['note']}.", "",
              f"Reproduce: `plexus bench encode --repeat {repeat}`.", ""]
        write_result(result, "\n".join(md), out, "encode")
    return result
