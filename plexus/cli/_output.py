"""Printing helpers: plain aligned tables that fit the terminal for people, JSON for machines.

Tables are rendered here, not by rich's column fitting: every line fits ``console.width`` (the terminal's
width, ``$COLUMNS`` when piped, else 80), long cells end in ``…`` (or wrap, for free-text columns), and
when even the narrowest layout does not fit, each row is printed as ``key: value`` lines instead of
squeezing columns to one or two characters. Colour (a bold header) only on a terminal.
"""

from __future__ import annotations

import json
import math
import re
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from rich.console import Console

__all__ = [
    "console",
    "emit_json",
    "err_console",
    "fits",
    "readable",
    "render_table",
    "say",
    "summarize",
    "table",
    "wrap_line",
]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

ELLIPSIS = "…"
GAP = 2  # spaces between columns
MIN_COL = 6  # a column is never narrower than this (or its widest cell, when that is narrower)
MAX_FLOOR = 12  # ... and may always shrink to this width (long cells then end in "…" or wrap)
HEADER_LINES = 3  # a header wider than its column wraps at "_", "." or " " over at most this many lines


def _default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=_default, indent=2) + "\n")
    sys.stdout.flush()


def _scalar(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) and v != int(v) else str(v)
    return str(v)


def readable(value: Any) -> str:
    """A value as text a person reads: ``{'train': 8000, 'val': 1000}`` -> ``train 8000, val 1000``.

    Nested mappings flatten their keys with dots; lists join with commas; a list of mappings lists its
    mappings separated by ``;``.
    """
    if isinstance(value, dict):
        flat: list[str] = []
        for k, v in value.items():
            if isinstance(v, dict):
                inner = readable(v)
                flat.append(f"{k}.{inner}" if len(v) == 1 else f"{k}: {inner}")
            else:
                flat.append(f"{k} {readable(v)}")
        return ", ".join(flat)
    if isinstance(value, (list, tuple, set)):
        items = list(value)
        if items and all(isinstance(i, dict) for i in items):
            return "; ".join(readable(i) for i in items)
        return ", ".join(readable(i) for i in items)
    return _scalar(value)


def summarize(value: Any) -> str:
    """A short form of a structured parameter (an architecture in JSON): ``2 layers: gat-sum-relu | gcn-…``.

    Plain values come back as they are.
    """
    obj = value
    if isinstance(value, str) and value[:1] in "[{":
        try:
            obj = json.loads(value)
        except ValueError:
            return value
    if isinstance(obj, dict) and isinstance(obj.get("layers"), list):
        layers = obj["layers"]
        parts = ["-".join(_scalar(v) for v in (layer.values() if isinstance(layer, dict) else [layer]))
                 for layer in layers]
        return f"{len(layers)} layers: " + " | ".join(parts)
    if isinstance(obj, (dict, list)):
        return readable(obj)
    return str(value)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    text = readable(v) if isinstance(v, (dict, list, tuple, set, float)) else str(v)
    return " ".join(text.split()) if ("\n" in text or "\t" in text) else text


def _fit(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + ELLIPSIS if width >= 1 else ""


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("s%"))
    except ValueError:
        return False
    return True


def _header_lines(name: str, width: int) -> list[str]:
    """A header cut into lines of ``width`` at ``_``, ``.`` or spaces (the last line ends in … if need be)."""
    if len(name) <= width:
        return [name]
    lines, cur = [], ""
    for tok in re.split(r"(?<=[_. ])", name):
        while len(tok) > width:
            if cur:
                lines.append(cur)
                cur = ""
            lines.append(tok[:width])
            tok = tok[width:]
        if len(cur) + len(tok) > width:
            lines.append(cur.rstrip())
            cur = tok
        else:
            cur += tok
    if cur:
        lines.append(cur.rstrip())
    if len(lines) > HEADER_LINES:
        lines = lines[: HEADER_LINES - 1] + [_fit("".join(lines[HEADER_LINES - 1:]), width)]
    return lines


WRAP_KEEP = 30  # a wrapping column keeps this width while other columns can still shrink


def _widths(columns: Sequence[str], cells: list[list[str]], width: int, wrapped: set[int]) -> list[int] | None:
    """Column widths that fit ``width``; None when even the narrowest layout is too wide.

    Shrinks in this order, the widest column first within each step: headers wider than their cells (they
    wrap), wrapping columns down to ``WRAP_KEEP``, the other columns down to their floor (cells then end in
    ``…``), wrapping columns down to their floor.
    """
    natural = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    content = [max([0] + [len(r[i]) for r in cells]) for i in range(len(columns))]
    longest_word = [max(len(w) for w in re.split(r"[_. ]", c) or [""]) for c in columns]
    floor = [min(n, max(MIN_COL, min(m, MAX_FLOOR), min(lw, MAX_FLOOR)))
             for n, m, lw in zip(natural, content, longest_word)]
    widths = list(natural)
    excess = sum(widths) + GAP * (len(widths) - 1) - width
    keep = min(WRAP_KEEP, width // 2)
    steps = [
        [max(f, m) for f, m in zip(floor, content)],
        [min(n, max(f, keep)) if i in wrapped else n for i, (n, f) in enumerate(zip(natural, floor))],
        [min(n, max(f, keep)) if i in wrapped else f for i, (n, f) in enumerate(zip(natural, floor))],
        floor,
    ]
    for stop in steps:
        stop = [min(s, w) for s, w in zip(stop, widths)]
        while excess > 0:
            room = [w - t for w, t in zip(widths, stop)]
            i = max(range(len(widths)), key=lambda j: (room[j] > 0, widths[j]))
            if room[i] <= 0:
                break
            widths[i] -= 1
            excess -= 1
    if excess > 0:
        return None
    return widths


def fits(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int | None = None) -> bool:
    """Whether the table prints as columns at ``width`` (default: the console's), not one block per row."""
    cells = [[_cell(v) for v in r] + [""] * (len(columns) - len(r)) for r in rows]
    last_text = bool(columns) and not all(_is_number(r[-1]) for r in cells if r and r[-1])
    wrapped = {len(columns) - 1} if last_text else set()
    return _widths(columns, cells, max(20, int(width or console.width)), wrapped) is not None


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int, *,
                 title: str = "", wrap: Sequence[str] | None = None) -> list[str]:
    """The lines of a plain table no wider than ``width``.

    Args:
        columns: header names.
        rows: cells (``None`` prints empty; mappings and lists print as :func:`readable` text).
        width: the widest a line may be.
        title: a first line (cut to ``width``).
        wrap: columns whose long cells wrap over several lines instead of ending in ``…`` (None: the last
            column when it holds text, not numbers).
    """
    width = max(20, int(width))
    cells = [[_cell(v) for v in r] + [""] * (len(columns) - len(r)) for r in rows]
    out = [_fit(title, width)] if title else []
    right = [bool(col) and all(_is_number(r[i]) for r in cells if r[i]) and any(r[i] for r in cells)
             for i, col in enumerate(columns)]
    if wrap is None:
        wrapped = {len(columns) - 1} if columns and not right[-1] else set()
    else:
        wrapped = {i for i, c in enumerate(columns) if c in wrap}
    widths = _widths(columns, cells, width, wrapped)
    if widths is None:  # too many columns for this width: one block of "key: value" lines per row
        key_w = min(max(len(c) for c in columns), width // 3)
        for n, r in enumerate(cells):
            if n:
                out.append("")
            for c, v in zip(columns, r):
                lines = textwrap.wrap(v, width - key_w - 2) or [""]
                out.append(f"{_fit(c, key_w):<{key_w}}  {lines[0]}".rstrip())
                out += [" " * (key_w + 2) + ln for ln in lines[1:]]
        return out
    sep = " " * GAP

    def line(values: list[str]) -> str:
        parts = [f"{v:>{w}}" if right[i] else f"{v:<{w}}" for i, (v, w) in enumerate(zip(values, widths))]
        return sep.join(parts).rstrip()

    heads = [_header_lines(c, w) for c, w in zip(columns, widths)]
    for k in range(max(len(h) for h in heads)):
        out.append(line([h[k] if k < len(h) else "" for h in heads]))
    out.append(line(["-" * w for w in widths]))
    for r in cells:
        chunks = [textwrap.wrap(v, w) or [""] if i in wrapped else [_fit(v, w)]
                  for i, (v, w) in enumerate(zip(r, widths))]
        for k in range(max(len(c) for c in chunks)):
            out.append(line([c[k] if k < len(c) else "" for c in chunks]))
    return out


def table(title: str, columns: list[str], rows: list[list[Any]], *, wrap: Sequence[str] | None = None) -> None:
    """Print a table on stdout that fits the terminal (see :func:`render_table`)."""
    lines = render_table(columns, rows, console.width, title=title, wrap=wrap)
    start = 1 if title else 0
    if title:
        console.print("")
    for i, ln in enumerate(lines):
        style = "bold" if console.is_terminal and i in (0, start) and ln else None
        console.print(ln, markup=False, highlight=False, soft_wrap=True, style=style)


def wrap_line(text: str, width: int | None = None, indent: str = "  ") -> list[str]:
    """``text`` broken at spaces into lines of at most ``width`` (continuations indented)."""
    width = max(20, width or console.width)
    return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False,
                         break_long_words=True) or [""]


def say(text: str, style: str | None = None) -> None:
    """Print a line of prose on stdout, wrapped to the terminal's width (``style`` only on a terminal)."""
    for ln in wrap_line(text):
        console.print(ln, markup=False, highlight=False, soft_wrap=True,
                      style=style if console.is_terminal else None)
