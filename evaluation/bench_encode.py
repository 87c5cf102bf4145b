"""Encoding throughput benchmark: ``python -m plexus.evaluation.bench_encode``.

Builds a 200,000-row Criteo-format file by repeating criteo-10k 20 times in a
temporary directory, encodes it with Plexus' tabular service (fresh cache:
read, split 8:1:1, fit the encoder on train, encode, write the cache) and
reports rows/s and the peak resident memory (``ru_maxrss``). Writes
``evaluation/results/encode.md`` and ``encode.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="copies of criteo-10k (default 20 -> 200,000 rows)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    from plexus.platform.data.datasets_tabular import criteo_schema
    from plexus.platform.data.sources import ensure_raw

    raw = ensure_raw("criteo-10k")  # fetched on first use (mirror: PLEXUS_DATA_MIRROR)
    src = (raw / "train_examples.txt").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PLEXUS_DATA"] = str(Path(tmp) / "home")  # fresh cache
        from plexus.platform.data.tabular import load_tabular

        path = Path(tmp) / "criteo_200k.txt"
        path.write_bytes(src * args.repeat)
        rows = src.count(b"\n") * args.repeat
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        ds = load_tabular([path], criteo_schema(), name="criteo-200k", split="random", seed=0)
        cold = time.perf_counter() - t0
        t1 = time.perf_counter()
        load_tabular([path], criteo_schema(), name="criteo-200k", split="random", seed=0)
        warm = time.perf_counter() - t1
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert sum(ds.num_rows(s) for s in ("train", "val", "test")) == rows
    result = {
        "rows": rows, "file_mb": round(len(src) * args.repeat / 2**20, 1),
        "cold_seconds": round(cold, 2), "rows_per_second": round(rows / cold),
        "cached_seconds": round(warm, 3), "peak_rss_mb": round(peak_mb, 1),
        "rss_before_mb": round(rss0 / 1024, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "note": "cold = read + split + fit + encode + cache write; cached = fingerprint + cache read",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "encode.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [f"# Tabular encoding benchmark (criteo-10k x {args.repeat})", "",
          "| rows | file MB | cold s | rows/s | cached s | peak RSS MB |", "|---|---|---|---|---|---|",
          (f"| {rows:,} | {result['file_mb']} | {result['cold_seconds']} | {result['rows_per_second']:,} | "
           f"{result['cached_seconds']} | {result['peak_rss_mb']} |"), "",
          f"Machine: {result['machine']}. {result['note']}.", "",
          "Reproduce: `python -m plexus.evaluation.bench_encode`.", ""]
    (args.out / "encode.md").write_text("\n".join(md))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
