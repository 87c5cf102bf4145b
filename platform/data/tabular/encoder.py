"""Fitted, serialisable encoder: raw rows -> feature tensors.

Semantics (every categorical-like field):

* index 0 is padding, index 1 is out-of-vocabulary (unseen, or seen fewer than
  ``min_count`` times in the *training* rows), known tokens get 2, 3, ... in
  order of decreasing training frequency (ties by token);
* fields with ``share_vocab`` add their training tokens to the owner's
  vocabulary and read the same embedding table;
* ``multi`` keeps the first ``max_len`` tokens, ``sequence`` the last ``max_len``
  (the most recent); both are padded with 0 on the ``padding`` side.

Numeric transforms (missing values are replaced by the field's ``fill`` first):
``none``; ``standardize`` ``(v - mean) / std`` with mean/std of the training rows;
``log`` ``sign(v) * log1p(|v|)``; ``criteo_log2`` the Criteo competition rule
``floor(log(v)^2)`` if ``v > 2`` else ``v``; ``bucketize`` turns the field into a
categorical one with ``len(bins) + 1`` buckets (``numpy.digitize``), missing -> 1.

Everything is vectorised with pandas/numpy; no Python loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import torch
from plexus.platform.data.tabular.readers import RawTable
from plexus.platform.data.tabular.schema import FieldDef, Schema
from plexus.platform.errors import DataError
from plexus.platform.spec import DataSpec, FieldSpec
from torch import Tensor

__all__ = ["ENCODER_VERSION", "EncodedTable", "TabularEncoder"]

ENCODER_VERSION = "1"
_DEFAULT_SEQ_MAX = 50


@dataclass
class EncodedTable:
    features: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    groups: np.ndarray | None
    timestamps: np.ndarray | None


def _int_strings(v: np.ndarray) -> np.ndarray:
    """Integers -> decimal strings (object array), converting each distinct value once."""
    uniq, inv = np.unique(v, return_inverse=True)
    return uniq.astype(str).astype(object)[inv.reshape(-1)]


def _as_str(s: pd.Series) -> pd.Series:
    """Values as a Python-``str`` object Series, missing -> ``""``; integral floats print without ``.0``."""
    if pd.api.types.is_float_dtype(s.dtype):
        v = s.to_numpy(np.float64, na_value=np.nan)
        out = np.full(len(v), "", dtype=object)
        ok = np.isfinite(v)
        integral = ok & (np.floor(v) == v) & (np.abs(v) < 2**53)
        out[integral] = v[integral].astype(np.int64).astype(str).astype(object)
        other = ok & ~integral
        out[other] = v[other].astype(str).astype(object)
        return pd.Series(out, index=s.index, dtype=object)
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype):
        return pd.Series(_int_strings(s.to_numpy()), index=s.index, dtype=object)
    v = s.to_numpy(dtype=object, na_value="")
    kind = pd.api.types.infer_dtype(v, skipna=False) if len(v) else "string"
    if kind == "integer":
        v = _int_strings(np.asarray(v, dtype=np.int64))
    elif kind != "string":
        v = np.asarray([x if isinstance(x, str) else ("" if x is None else str(x)) for x in v], dtype=object)
    return pd.Series(v, index=s.index, dtype=object)


def _factor_str(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, strings)`` with ``strings[codes]`` equal to ``_as_str(s)``, each distinct value converted once.

    Columns repeat their values (Criteo: 200,000 rows, a few thousand distinct values per column), so
    hashing first and converting, parsing or looking up only the distinct values is most of the saving.
    An object column that is not all strings (``1`` and ``1.0`` hash alike) is converted row by row first.
    """
    codes, uniq = pd.factorize(s, use_na_sentinel=False)
    if s.dtype == object and pd.api.types.infer_dtype(uniq, skipna=False) != "string":
        codes, uniq = pd.factorize(_as_str(s).to_numpy(), use_na_sentinel=False)
        return codes, np.asarray(uniq, dtype=object)
    return codes, _as_str(pd.Series(uniq, dtype=s.dtype)).to_numpy()


def _tokens(s: pd.Series, sep: str) -> tuple[np.ndarray, np.ndarray]:
    """Explode a multi/sequence column into (row position, token string); empty tokens dropped."""
    first = s.dropna()
    first = first.iloc[0] if len(first) else ""
    if isinstance(first, (list, tuple, np.ndarray)):
        values = [x if isinstance(x, (list, tuple, np.ndarray)) else ([] if x is None or x == "" else [x])
                  for x in s.to_numpy(dtype=object)]
    else:
        values = _as_str(s).str.split(sep, regex=False).to_numpy(dtype=object)
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    rows = np.repeat(np.arange(len(values)), lengths)
    if isinstance(first, np.ndarray) and all(isinstance(x, np.ndarray) for x in values):
        flat = np.concatenate(values) if len(values) else []  # fast path: arrays of ids
    else:
        flat = list(chain.from_iterable(values))
    toks = _as_str(pd.Series(flat)).to_numpy() if len(flat) else np.empty(0, dtype=object)
    keep = toks != ""
    return rows[keep], toks[keep]


def _pad(rows: np.ndarray, codes: np.ndarray, n: int, max_len: int, keep_last: bool, left: bool) -> np.ndarray:
    lengths = np.bincount(rows, minlength=n)
    starts = np.cumsum(lengths) - lengths
    pos = np.arange(len(rows)) - starts[rows]
    ln = lengths[rows]
    drop = np.maximum(ln - max_len, 0) if keep_last else np.zeros_like(ln)
    keep = (pos >= drop) & (pos - drop < max_len)
    newpos = (pos - drop)[keep]
    kept_len = np.minimum(ln, max_len)[keep]
    col = (max_len - kept_len + newpos) if left else newpos
    out = np.zeros((n, max_len), dtype=np.int64)
    out[rows[keep], col] = codes[keep]
    return out


class TabularEncoder:
    """Vocabularies, numeric statistics and padded lengths learned from training rows."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.vocabs: dict[str, list[str]] = {}
        self.stats: dict[str, dict[str, float]] = {}
        self.max_lens: dict[str, int] = {}
        self.fitted = False
        self._index: dict[str, dict[str, int]] = {}

    # ------------------------------------------------------------------ fitting
    def fit(self, table: RawTable | pd.DataFrame) -> TabularEncoder:
        if isinstance(table, pd.DataFrame):
            table = RawTable.from_frame(table)
        df, sch = table.df, self.schema
        counts: dict[str, pd.Series] = {}
        owners = {f.name: f for f in sch.fields}
        for f in sch.fields:
            col = self._column(table, f)
            if f.type == "numeric":
                v = self._numeric(table, f, col)
                if f.transform == "standardize":
                    mean = float(v.mean()) if len(v) else 0.0
                    std = float(v.std()) if len(v) > 1 else 1.0  # population std (ddof=0)
                    self.stats[f.name] = {"mean": mean, "std": std if std > 1e-12 else 1.0}
                continue
            if f.type == "categorical":
                codes, strs = _factor_str(col)
                c = pd.Series(np.bincount(codes, minlength=len(strs)), index=pd.Index(strs, dtype=object))
                key = f.vocab_key
                counts[key] = c if key not in counts else counts[key].add(c, fill_value=0)
                continue
            else:
                rows, toks = _tokens(col, f.separator or " ")
                lengths = np.bincount(rows, minlength=len(df))
                observed = int(lengths.max()) if len(lengths) else 1
                if f.max_len is not None:
                    self.max_lens[f.name] = f.max_len
                elif f.type == "sequence":
                    self.max_lens[f.name] = max(1, min(observed, _DEFAULT_SEQ_MAX))
                else:
                    self.max_lens[f.name] = max(1, observed)
            c = pd.Series(toks, dtype=object).value_counts(sort=False)
            key = f.vocab_key
            counts[key] = c if key not in counts else counts[key].add(c, fill_value=0)
        for key, c in counts.items():
            owner = owners[key]
            mc = owner.min_count if owner.min_count is not None else sch.min_count
            c = c[c >= mc]
            order = pd.DataFrame({"tok": np.asarray(c.index, dtype=object), "n": c.to_numpy()}).sort_values(
                ["n", "tok"], ascending=[False, True], kind="mergesort")
            self.vocabs[key] = order["tok"].tolist()
        self._index = {}
        self.fitted = True
        return self

    # ------------------------------------------------------------------ encoding
    def _column(self, table: RawTable, f: FieldDef) -> pd.Series:
        if f.column not in table.df.columns:
            raise DataError(f"missing column '{f.column}'", file=table.files[0] if table.files else None,
                            field=f.name)
        return table.df[f.column]

    def _numeric(self, table: RawTable, f: FieldDef, col: pd.Series) -> np.ndarray:
        """Parsed, filled and (except standardize/bucketize) transformed values as float64."""
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            v = col.to_numpy(np.float64, na_value=np.nan)
            missing = np.isnan(v)
        else:
            codes, strs = _factor_str(col)  # each distinct string parsed once
            blank = strs == ""
            try:  # numpy parses plain decimal strings faster than pd.to_numeric; anything odd takes the slow path
                parsed = np.where(blank, "0", strs).astype(np.float64)
            except (ValueError, TypeError):
                parsed = pd.to_numeric(pd.Series(np.where(blank, "0", strs), dtype=object),
                                       errors="coerce").to_numpy(np.float64).copy()
            v, missing = parsed[codes], blank[codes]
            bad = np.flatnonzero(np.isnan(v) & ~missing)
            if len(bad):  # retry with surrounding blanks stripped (rare: only the failing values)
                s = pd.Series(strs[codes], index=col.index, dtype=object)
                s.iloc[bad] = s.iloc[bad].str.strip()
                missing[bad] = (s.iloc[bad] == "").to_numpy()
                v[bad] = pd.to_numeric(s.iloc[bad].where(~missing[bad], "0"), errors="coerce").to_numpy(np.float64)
                bad = np.flatnonzero(np.isnan(v) & ~missing)
            if len(bad):
                i = int(bad[0])
                raw = s.iloc[i]
                what = "NaN is not allowed" if raw.lower() in ("nan", "-nan") else "expected a number"
                raise table.error(i, f"{what}, got {raw!r}", f.name)
        inf = np.flatnonzero(np.isinf(v))
        if len(inf):
            raise table.error(int(inf[0]), f"infinite value {v[inf[0]]} is not allowed", f.name)
        if f.transform == "bucketize":
            return np.where(missing, np.nan, v)
        v = np.where(missing, float(f.fill), v)
        if f.transform == "log":
            v = np.sign(v) * np.log1p(np.abs(v))
        elif f.transform == "criteo_log2":
            big = v > 2
            v = np.where(big, np.floor(np.log(np.where(big, v, 1.0)) ** 2), v)
        return v

    def _lookup(self, key: str, toks: np.ndarray) -> np.ndarray:
        """Token -> id (0 padding, 1 out of vocabulary, 2.. the vocabulary in order).

        The column is factorised first (pandas' C hash table), then each distinct token is probed once in the
        vocabulary dict: Criteo's 26 columns repeat their values, 5.2M probes become a few hundred thousand."""
        ids = self._index.get(key)
        if ids is None:
            ids = self._index[key] = {t: i for i, t in enumerate(self.vocabs[key], start=2)}
        get = ids.get
        codes, uniques = pd.factorize(toks, use_na_sentinel=False)
        mapped = np.fromiter((get(t, 1) for t in uniques), dtype=np.int64, count=len(uniques))
        return mapped[codes]

    def _features(self, table: RawTable) -> dict[str, np.ndarray]:
        if not self.fitted:
            raise RuntimeError("encoder is not fitted")
        n = len(table)
        out: dict[str, np.ndarray] = {}
        for f in self.schema.fields:
            col = self._column(table, f)
            if f.type == "numeric":
                v = self._numeric(table, f, col)
                if f.transform == "bucketize":
                    codes = np.digitize(np.nan_to_num(v, nan=0.0), np.asarray(f.bins, dtype=np.float64)) + 2
                    out[f.name] = np.where(np.isnan(v), 1, codes).astype(np.int64)
                    continue
                if f.transform == "standardize":
                    st = self.stats[f.name]
                    v = (v - st["mean"]) / st["std"]
                out[f.name] = v.astype(np.float32)
            elif f.type == "categorical":
                codes, strs = _factor_str(col)
                out[f.name] = self._lookup(f.vocab_key, strs)[codes]
            else:
                rows, toks = _tokens(col, f.separator or " ")
                out[f.name] = _pad(rows, self._lookup(f.vocab_key, toks), n, self.max_lens[f.name],
                                   keep_last=f.type == "sequence", left=f.padding == "left")
        return out

    def _labels(self, table: RawTable) -> dict[str, np.ndarray]:
        out = {}
        for lab in self.schema.labels:
            if lab.column not in table.df.columns:
                raise DataError(f"missing label column '{lab.column}'", file=table.files[0], field=lab.name)
            col = table.df[lab.column]
            rule = lab.rule or {}
            if "equals" in rule or "in" in rule:
                targets = rule["equals"] if "equals" in rule else rule["in"]
                targets = targets if isinstance(targets, list) else [targets]
                s = _as_str(col).str.strip()
                y = s.isin([str(t) for t in targets]).to_numpy()
                if all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in targets):
                    num = pd.to_numeric(s, errors="coerce").to_numpy(np.float64)
                    y = y | np.isin(num, np.asarray(targets, dtype=np.float64))
                out[lab.name] = y.astype(np.float32)
                continue
            if pd.api.types.is_numeric_dtype(col.dtype):
                v = col.to_numpy(np.float64, na_value=np.nan)
                raw = col.astype(str)
            else:
                raw = _as_str(col).str.strip()
                v = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
            if "threshold" in rule:
                bad = np.flatnonzero(~np.isfinite(v))
                if len(bad):
                    i = int(bad[0])
                    raise table.error(i, f"label must be a number, got {raw.iloc[i]!r}", lab.name)
                out[lab.name] = (v > float(rule["threshold"])).astype(np.float32)
            else:
                bad = np.flatnonzero(~np.isin(v, (0.0, 1.0)))
                libfm = self.schema.format == "libfm"
                if len(bad) and libfm and np.isin(v, (-1.0, 1.0)).all():  # libSVM's -1 / +1
                    v, bad = np.where(v < 0, 0.0, v), bad[:0]
                if len(bad):
                    i = int(bad[0])
                    also = " (or -1/+1, not mixed with 0)" if libfm else ""
                    raise table.error(i, f"label must be 0 or 1{also}, got {raw.iloc[i]!r}", lab.name)
                out[lab.name] = v.astype(np.float32)
        return out

    def encode(self, table: RawTable | pd.DataFrame) -> EncodedTable:
        """Features, labels, group ids (``pd.factorize`` of the group column) and timestamps."""
        if isinstance(table, pd.DataFrame):
            table = RawTable.from_frame(table)
        feats = self._features(table)
        labels = self._labels(table)
        return EncodedTable(feats, labels, self.encode_groups(table), self.encode_timestamps(table))

    def encode_groups(self, table: RawTable) -> np.ndarray | None:
        """Group (user) ids as ``pd.factorize`` codes of the group column, or ``None``."""
        sch = self.schema
        if not sch.group:
            return None
        if sch.group not in table.df.columns:
            raise DataError(f"missing group column '{sch.group}'", file=table.files[0], field=sch.group)
        return pd.factorize(_as_str(table.df[sch.group]))[0].astype(np.int64)

    def encode_timestamps(self, table: RawTable) -> np.ndarray | None:
        sch = self.schema
        if not sch.timestamp:
            return None
        if sch.timestamp not in table.df.columns:
            raise DataError(f"missing timestamp column '{sch.timestamp}'", file=table.files[0], field=sch.timestamp)
        raw = _as_str(table.df[sch.timestamp]).str.strip()
        ts = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(ts))
        if len(bad):
            i = int(bad[0])
            raise table.error(i, f"timestamp must be a number (e.g. unix seconds), got {raw.iloc[i]!r}",
                              sch.timestamp)
        return ts

    def transform(self, df: pd.DataFrame) -> dict[str, Tensor]:
        """Encode raw rows (a DataFrame with the schema's columns) into a model batch."""
        feats = self._features(RawTable.from_frame(df))
        return {k: torch.from_numpy(v) for k, v in feats.items()}

    # ------------------------------------------------------------------ spec
    def field_specs(self) -> list[FieldSpec]:
        out = []
        for f in self.schema.fields:
            if f.type == "numeric" and f.transform != "bucketize":
                out.append(FieldSpec(f.name, "numeric", 0, 1, None, f.role))
            elif f.type == "numeric":
                out.append(FieldSpec(f.name, "categorical", len(f.bins or []) + 3, 1, None, f.role))
            else:
                out.append(FieldSpec(f.name, f.type, len(self.vocabs[f.vocab_key]) + 2,
                                     self.max_lens.get(f.name, 1), f.share_vocab, f.role))
        return out

    def data_spec(self, task: str, extra: dict[str, Any] | None = None) -> DataSpec:
        return DataSpec(task=task, fields=self.field_specs(), tasks=[lab.name for lab in self.schema.labels],
                        extra=dict(extra or {}))

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return {"version": ENCODER_VERSION, "schema": self.schema.to_dict(), "vocabs": self.vocabs,
                "stats": self.stats, "max_lens": self.max_lens}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TabularEncoder:
        if d.get("version") != ENCODER_VERSION:
            raise DataError(f"encoder version {d.get('version')!r} is not supported (expected {ENCODER_VERSION})")
        enc = cls(Schema.from_json_dict(d["schema"]))
        enc.vocabs = {k: list(v) for k, v in d["vocabs"].items()}
        enc.stats = {k: dict(v) for k, v in d["stats"].items()}
        enc.max_lens = {k: int(v) for k, v in d["max_lens"].items()}
        enc.fitted = True
        return enc
