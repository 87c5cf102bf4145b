"""Writes the tiny example files of this folder (seeded; run ``python generate.py`` to recreate them).

* ``train.libsvm`` / ``val.libsvm`` / ``test.libsvm``: a given libSVM split, labels -1/+1, tokens
  ``user:1 item:1 [context:1]`` (about a fifth of the rows have no context token: ragged rows);
* ``clicks.csv``: one CSV whose ``part`` column says train / val / test.

In both, a click is likelier for even items and for users 0, 3, 6, ... (a signal a model learns in seconds).
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _click(r: random.Random, user: int, item: int) -> bool:
    return r.random() < (0.75 if item % 2 == 0 else 0.2) + (0.2 if user % 3 == 0 else 0.0)


def libsvm(r: random.Random, n: int) -> str:
    lines = []
    for _ in range(n):
        user, item, ctx = r.randrange(30), r.randrange(40), r.randrange(4)
        toks = [f"{user}:1", f"{100 + item}:1"] + ([f"{200 + ctx}:1"] if r.random() < 0.8 else [])
        lines.append(("+1 " if _click(r, user, item) else "-1 ") + " ".join(toks))
    return "\n".join(lines) + "\n"


def clicks(r: random.Random, n: int) -> str:
    rows = ["user,item,category,price,clicked,part"]
    for i in range(n):
        user, item = r.randrange(30), r.randrange(40)
        part = "test" if i % 10 == 9 else "val" if i % 10 == 8 else "train"
        rows.append(f"u{user},i{item},c{item % 5},{r.uniform(1, 100):.2f},{int(_click(r, user, item))},{part}")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    r = random.Random(0)
    for name, n in (("train", 400), ("val", 100), ("test", 100)):
        (HERE / f"{name}.libsvm").write_text(libsvm(r, n))
    (HERE / "clicks.csv").write_text(clicks(r, 500))
