"""Write the README's small temporal graph (deterministic; run from anywhere).

``events(folder)``: ``events.csv`` (source,target,time): 80 accounts exchanging
messages over 30 days (Unix seconds). Each account keeps a few regular partners, so
who talks to whom next is predictable from the past, as in a message network.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

START = 1_700_000_000  # 2023-11-14, seconds


def events(folder: Path, n: int = 80, days: int = 30, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    partners = [rng.choice(np.delete(np.arange(n), i), 4, replace=False) for i in range(n)]
    rows = []
    for day in range(days):
        for i in rng.choice(n, n // 2, replace=False):
            j = int(rng.choice(partners[i])) if rng.random() < 0.85 else int(rng.integers(n))
            if j != i:
                rows.append((int(i), j, START + day * 86_400 + int(rng.integers(86_400))))
    rows.sort(key=lambda r: r[2])
    path = folder / "events.csv"
    path.write_text("source,target,time\n" + "".join(f"{a},{b},{t}\n" for a, b, t in rows))
    return path


if __name__ == "__main__":
    events(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
