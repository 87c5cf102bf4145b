"""Readers for CSV/TSV (pandas), Parquet (pyarrow) and libFM/libSVM text.

Every reader returns a :class:`RawTable`: a pandas DataFrame plus, per row, the
file it came from and its 1-based line number in that file (header included),
so that later errors can point at the exact line. Text columns are read as
strings (``""`` = missing); typing happens in the encoder.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from plexus.platform.data.tabular.schema import Schema
from plexus.platform.errors import DataError

__all__ = ["RawTable", "detect_format", "read_libfm", "read_parquet", "read_table", "read_text_table"]


@dataclass
class RawTable:
    """Raw rows with their provenance (``files[file_idx[i]]``, line ``lines[i]``)."""

    df: pd.DataFrame
    files: list[str]
    file_idx: np.ndarray
    lines: np.ndarray

    def where(self, i: int) -> tuple[str, int]:
        return self.files[int(self.file_idx[i])], int(self.lines[i])

    def error(self, i: int, message: str, field: str | None = None) -> DataError:
        f, r = self.where(i)
        return DataError(message, file=f, row=r, field=field)

    def take(self, idx: np.ndarray) -> RawTable:
        return RawTable(self.df.iloc[idx].reset_index(drop=True), self.files, self.file_idx[idx], self.lines[idx])

    def __len__(self) -> int:
        return len(self.df)

    @staticmethod
    def from_frame(df: pd.DataFrame, name: str = "<dataframe>", first_line: int = 1) -> RawTable:
        n = len(df)
        return RawTable(df.reset_index(drop=True), [name], np.zeros(n, np.int32),
                        np.arange(first_line, first_line + n, dtype=np.int64))

    @staticmethod
    def concat(tables: list[RawTable]) -> RawTable:
        files: list[str] = []
        idx, lines, dfs = [], [], []
        for t in tables:
            idx.append(t.file_idx + len(files))
            files.extend(t.files)
            lines.append(t.lines)
            dfs.append(t.df)
        return RawTable(pd.concat(dfs, ignore_index=True), files, np.concatenate(idx), np.concatenate(lines))


def detect_format(path: str | Path, schema: Schema | None = None) -> str:
    if schema is not None and schema.format:
        return schema.format
    name = str(path).lower()
    for suffix in (".gz", ".bz2", ".xz", ".zst"):
        name = name.removesuffix(suffix)
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".libfm", ".libsvm", ".svm")):
        return "libfm"
    if name.endswith((".tsv", ".txt")):
        return "tsv"
    return "csv"


def _decode(path: Path, raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"invalid {encoding} byte sequence at byte {exc.start} ({exc.reason})",
                        file=str(path), row=line) from None


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise DataError("expected a file, found a directory", file=str(path)) from None
    if str(path).endswith(".gz"):
        import gzip

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataError(f"not a valid gzip file ({exc})", file=str(path)) from None
    return data


def read_table(path: str | Path, schema: Schema) -> RawTable:
    """Read ``path`` in the schema's format (or the one its extension implies) and check required columns."""
    path = Path(path)
    fmt = "libfm" if schema.auto_fields else detect_format(path, schema)
    if fmt == "parquet":
        table = read_parquet(path)
    elif fmt == "libfm":
        table = read_libfm(path, schema.columns, ragged=schema.auto_fields, label=schema.labels[0].column,
                           encoding=schema.encoding)
    else:
        sep = schema.separator or ("\t" if fmt == "tsv" else ",")
        table = read_text_table(path, sep=sep, header=schema.header, columns=schema.columns, encoding=schema.encoding)
    missing = [c for c in schema.required_columns() if c not in table.df.columns]
    if missing:
        row = 1 if (fmt in ("csv", "tsv") and schema.header) else None
        raise DataError(f"missing column(s) {missing}; the file has {list(table.df.columns)[:50]}",
                        file=str(path), row=row, field=missing[0])
    return table


def read_text_table(path: str | Path, *, sep: str = ",", header: bool = True, columns: list[str] | None = None,
                    encoding: str = "utf-8") -> RawTable:
    """CSV/TSV with or without a header; every value as a string, ``""`` for missing."""
    path = Path(path)
    data = _read_bytes(path)
    text = _decode(path, data, encoding)
    if not text or text.isspace():
        raise DataError("empty file (no rows)", file=str(path), row=1)
    skip_space = len(sep) > 1 and len(sep.strip()) == 1  # e.g. ", ": split on "," and strip leading blanks
    if skip_space:
        sep = sep.strip()
    if not header and not columns:
        raise DataError("the file has no header and the schema gives no 'columns'", file=str(path))
    utf8 = encoding.lower().replace("-", "").replace("_", "") == "utf8"
    arr = np.frombuffer(data if utf8 else text.encode("utf-8"), dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    if len(arr) and arr[-1] != 10:
        nl = np.append(nl, len(arr))
    starts = np.concatenate([[0], nl[:-1] + 1])
    cr = np.zeros(len(arr) + 1, dtype=bool)
    cr[:-1] = arr == 13
    line_len = nl - starts - cr[np.maximum(nl - 1, 0)] * (nl > starts)
    blank = line_len <= 0
    quoted = '"' in text
    if not quoted and len(sep) == 1 and ord(sep) < 128:
        sep_pos = np.flatnonzero(arr == ord(sep))
        counts = np.searchsorted(sep_pos, nl) - np.searchsorted(sep_pos, starts) + 1
        expected = len(columns) if columns and not header else int(counts[0])
        if header and blank[0]:
            raise DataError("empty header line", file=str(path), row=1)
        bad = np.flatnonzero((counts != expected) & ~blank)
        if len(bad):
            i = int(bad[0])
            raise DataError(f"ragged row: expected {expected} fields separated by {sep!r}, found {counts[i]}",
                            file=str(path), row=i + 1)
    try:
        # UTF-8 bytes go to the C parser as they are: a str would be encoded back to UTF-8 first
        source = io.BytesIO(data) if utf8 else io.StringIO(text)
        df = pd.read_csv(source, sep=sep, encoding="utf-8" if utf8 else None, header=0 if header else None,
                         names=None if header else columns, dtype=object, keep_default_na=False, na_filter=False,
                         skip_blank_lines=False, skipinitialspace=skip_space,
                         engine="c" if len(sep) == 1 else "python")
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            raise DataError(f"ragged row: expected {m.group(1)} fields, found {m.group(3)}", file=str(path),
                            row=int(m.group(2))) from None
        raise DataError(f"cannot parse: {str(exc).strip()}", file=str(path)) from None
    except pd.errors.EmptyDataError:
        raise DataError("empty file (no rows)", file=str(path), row=1) from None
    if header and columns:
        if len(columns) != df.shape[1]:
            raise DataError(f"schema 'columns' lists {len(columns)} names but the header has {df.shape[1]}",
                            file=str(path), row=1)
        df.columns = columns
    dup = [c for c in df.columns if str(c).endswith(".1")]
    if header and dup:
        raise DataError(f"duplicate column name in the header ({dup[0][:-2]!r})", file=str(path), row=1,
                        field=dup[0][:-2])
    first = 2 if header else 1
    line_no = np.arange(first, first + len(df), dtype=np.int64)
    keep = ~blank[first - 1: first - 1 + len(df)] if len(blank) >= first - 1 + len(df) else np.ones(len(df), bool)
    if not keep.all():  # blank lines: pandas gave them rows of empty strings
        df = df.loc[keep].reset_index(drop=True)
        line_no = line_no[keep]
    if len(df) == 0:
        raise DataError("empty file (a header but no rows)", file=str(path), row=2)
    return RawTable(df, [str(path)], np.zeros(len(df), np.int32), line_no)


def read_parquet(path: str | Path, columns: list[str] | None = None) -> RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise DataError("file not found", file=str(path))
    try:
        table = pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({str(exc).splitlines()[0]})", file=str(path)) from None
    if table.num_rows == 0:
        raise DataError("empty file (no rows)", file=str(path))
    df = table.to_pandas()
    # Parquet has no lines: rows are numbered 1..N in file order
    return RawTable(df, [str(path)], np.zeros(len(df), np.int32), np.arange(1, len(df) + 1, dtype=np.int64))


def read_libfm(path: str | Path, columns: list[str] | None = None, *, ragged: bool = False, label: str = "label",
               encoding: str = "utf-8") -> RawTable:
    """libFM / libSVM text: ``label idx:val idx:val ...``.

    Token ``k`` (0-based, after the label) becomes column ``columns[k+1]`` (its
    index, a string) and ``columns[k+1] + ":val"`` (its value, float). Without
    ``columns`` the names are ``label, f0, f1, ...`` (``label`` renamed by
    ``label``). All rows must have the same number of tokens (one per field
    group), unless ``ragged``: then there are as many columns as the widest row
    has tokens, and a shorter row's missing positions are ``""`` (value NaN).
    """
    path = Path(path)
    text = _decode(path, _read_bytes(path), encoding)
    if not text.strip():
        raise DataError("empty file (no rows)", file=str(path))
    lines = pd.Series(text.split("\n"), dtype=object)
    if lines.iloc[-1] == "":
        lines = lines.iloc[:-1]
    lines = lines.str.strip()
    line_no = np.arange(1, len(lines) + 1, dtype=np.int64)
    keep = (lines != "").to_numpy()
    lines, line_no = lines[keep].reset_index(drop=True), line_no[keep]
    parts = lines.str.split(r"\s+", regex=True)
    ntok = parts.str.len().to_numpy()
    expected = int(ntok.max()) if ragged else int(ntok[0])
    names = columns or [label] + [f"f{k}" for k in range(expected - 1)]
    if len(names) != expected:
        raise DataError(f"expected {len(names) - 1} feature tokens after the label ({len(names)} columns), "
                        f"found {expected - 1}", file=str(path), row=int(line_no[0]))
    bad = np.flatnonzero(ntok != expected)
    if len(bad) and not ragged:
        i = int(bad[0])
        raise DataError(f"ragged row: expected {expected - 1} idx:val tokens, found {ntok[i] - 1}",
                        file=str(path), row=int(line_no[i]))
    tok = pd.DataFrame(parts.tolist(), dtype=object)
    if ragged:
        tok = tok.fillna("")
    out: dict[str, Any] = {}
    y = pd.to_numeric(tok[0], errors="coerce")
    nan = np.flatnonzero(y.isna().to_numpy())
    if len(nan):
        i = int(nan[0])
        raise DataError(f"label {tok[0].iloc[i]!r} is not a number", file=str(path), row=int(line_no[i]),
                        field=names[0])
    out[names[0]] = y.to_numpy(np.float64)
    for k in range(1, expected):
        col = tok[k]
        split = col.str.partition(":")
        absent = (col == "").to_numpy()
        nocolon = np.flatnonzero((split[1] != ":").to_numpy() & ~absent)
        if len(nocolon):
            i = int(nocolon[0])
            raise DataError(f"token {col.iloc[i]!r} is not of the form idx:value", file=str(path),
                            row=int(line_no[i]), field=names[k])
        idx_ok = split[0].str.fullmatch(r"\d+").to_numpy()
        val = pd.to_numeric(split[2], errors="coerce").to_numpy(np.float64)
        badv = np.flatnonzero((~idx_ok | ~np.isfinite(val)) & ~absent)
        if len(badv):
            i = int(badv[0])
            raise DataError(f"token {col.iloc[i]!r}: expected a non-negative integer index and a finite value",
                            file=str(path), row=int(line_no[i]), field=names[k])
        out[names[k]] = split[0]
        out[names[k] + ":val"] = val
    df = pd.DataFrame(out)
    return RawTable(df, [str(path)], np.zeros(len(df), np.int32), line_no)
