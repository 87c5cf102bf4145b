"""Raw files + schema -> cached, split, encoded :class:`TabularDataset`."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from plexus.platform.data._types import SPLITS, TabularDataset
from plexus.platform.data.tabular.cache import fingerprint, load_cached, save_cached
from plexus.platform.data.tabular.encoder import TabularEncoder
from plexus.platform.data.tabular.readers import RawTable, detect_format, read_table
from plexus.platform.data.tabular.schema import SPLIT_VALUES, Schema
from plexus.platform.data.tabular.splits import make_split
from plexus.platform.errors import DataError
from plexus.platform.spec import DataSpec

__all__ = ["fit_encoder_parquet", "iter_parquet_batches", "load_tabular"]


def _dataset(name: str, fp: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TabularDataset:
    enc = TabularEncoder.from_dict(meta["encoder"])
    spec = DataSpec.from_dict(meta["spec"])
    feats, labels, groups = {}, {}, {}
    for sp in SPLITS:
        idx = arrays[f"idx__{sp}"]
        feats[sp] = {f.name: torch.from_numpy(arrays[f"feat__{f.name}"][idx]) for f in spec.fields}
        labels[sp] = {t: torch.from_numpy(arrays[f"label__{t}"][idx]) for t in spec.tasks}
        groups[sp] = torch.from_numpy(arrays["group"][idx]) if "group" in arrays else None
    return TabularDataset(name=name, spec=spec, fingerprint=fp, description=meta.get("description", ""),
                          features=feats, labels=labels, groups=groups, encoder=enc)


def load_tabular(
    files: list[str | os.PathLike],
    schema: Schema,
    *,
    name: str,
    task: str | None = None,
    split: str | None = None,
    seed: int | None = None,
    fractions: tuple[float, float, float] | None = None,
    description: str = "",
    extra: dict[str, Any] | None = None,
    build: Callable[[], RawTable] | None = None,
    options: dict[str, Any] | None = None,
    use_cache: bool = True,
) -> TabularDataset:
    """Load (or read from the cache) an encoded, split dataset.

    Args:
        files: the raw files; their bytes enter the fingerprint, and they are read
            with :func:`read_table` unless ``build`` is given.
        schema: the field declarations.
        name: dataset name.
        task: ``ctr`` (one label) or ``multitask``; default from the number of labels.
        split: ``random`` | ``time`` | ``leave_last_out`` | ``user`` | ``column`` | ``files``; default the
            schema's ``split.method``. ``column``: each row's value in the schema's split column (or, for
            rows made by ``build``, in ``_split``) is ``train``, ``val`` or ``test``. ``files``: ``files``
            are the train, val and test files in that order (default: the schema's ``split`` paths).
        seed, fractions: split options (default: the schema's, else 0 and 8:1:1).
        build: a function returning the raw rows (for derived datasets).
        options: anything else that changes the result (part of the fingerprint).
    """
    sp_opts = schema.split or {}
    split = split or sp_opts.get("method", "random")
    if split == "files":
        files = list(files) or list(schema.split_files().values())
        if len(files) != 3:
            raise DataError(f"a files split needs three files (train, val, test), got {len(files)}",
                            file=schema.source)
    seed = int(seed if seed is not None else sp_opts.get("seed", 0))
    fractions = tuple(fractions or sp_opts.get("fractions", (0.8, 0.1, 0.1)))
    task = task or ("multitask" if len(schema.labels) > 1 else "ctr")
    if task == "ctr" and len(schema.labels) != 1:
        raise DataError(f"task 'ctr' needs exactly one label, the schema has {len(schema.labels)}",
                        file=schema.source)
    opts = {"name": name, "task": task, "split": split, "seed": seed, "fractions": list(fractions),
            "extra": extra or {}, **(options or {})}
    files = [Path(f) for f in files]
    for f in files:
        if not f.is_file():
            raise DataError("file not found", file=str(f))
    fp = fingerprint(files, schema.to_dict(), opts)
    if use_cache:
        hit = load_cached(fp)
        if hit is not None:
            return _dataset(name, fp, *hit)

    if build is not None:
        table, sizes = build(), []
    else:
        tables = [read_table(f, schema) for f in files]
        table, sizes = RawTable.concat(tables), [len(t) for t in tables]
    schema = _concrete(schema, table, files)
    enc = TabularEncoder(schema)
    users, ts = enc.encode_groups(table), enc.encode_timestamps(table)
    try:
        if split == "column":
            parts = _column_parts(table, schema)
        elif split == "files":
            ends = np.cumsum([0, *sizes])
            parts = {sp: np.arange(ends[k], ends[k + 1], dtype=np.int64) for k, sp in enumerate(SPLIT_VALUES)}
        else:
            parts = make_split(split, len(table), seed=seed, fractions=fractions, users=users, timestamps=ts)
    except (TypeError, ValueError) as exc:
        raise DataError(f"cannot split with method '{split}': {exc}", file=schema.source) from None
    if len(parts["train"]) == 0:
        raise DataError("no training rows after splitting", file=str(files[0]) if files else None)
    if split == "column" and not all(len(parts[sp]) for sp in SPLIT_VALUES):
        empty = [sp for sp in SPLIT_VALUES if not len(parts[sp])]
        raise DataError(f"no {' / '.join(empty)} rows: every split value (train, val, test) must occur",
                        file=str(files[0]) if files else schema.source, field=_split_column(schema))
    enc.fit(table.take(parts["train"]))
    encoded = enc.encode(table)
    spec = enc.data_spec(task, extra)
    arrays: dict[str, np.ndarray] = {f"feat__{k}": v for k, v in encoded.features.items()}
    arrays.update({f"label__{k}": v for k, v in encoded.labels.items()})
    if encoded.groups is not None:
        arrays["group"] = encoded.groups
    arrays.update({f"idx__{k}": v.astype(np.int64) for k, v in parts.items()})
    meta = {"encoder": enc.to_dict(), "spec": spec.to_dict(), "description": description, "name": name}
    if use_cache:
        save_cached(fp, arrays, meta)
    return _dataset(name, fp, arrays, meta)


def _split_column(schema: Schema) -> str:
    return schema.split["column"] if schema.split_method == "column" else "_split"


def _column_parts(table: RawTable, schema: Schema) -> dict[str, np.ndarray]:
    """Rows by their split column's value (surrounding blanks ignored); any other value is an error."""
    name = _split_column(schema)
    if name not in table.df.columns:
        raise DataError(f"missing split column '{name}'", file=table.files[0] if table.files else None, field=name)
    col = table.df[name].astype(str).str.strip().to_numpy(dtype=object)
    bad = np.flatnonzero(~np.isin(col, SPLIT_VALUES))
    if len(bad):
        i = int(bad[0])
        raise table.error(i, f"split value {str(table.df[name].iloc[i])[:40]!r} must be train, val or test", name)
    return {sp: np.flatnonzero(col == sp) for sp in SPLIT_VALUES}


def _concrete(schema: Schema, table: RawTable, files: list[Path]) -> Schema:
    """The schema the encoder uses: ``fields: auto`` turned into f0..f{n-1} (``n`` the widest row of all
    files, shorter rows padded with ``""``); a libFM file found by its extension marked ``format: libfm``."""
    if schema.auto_fields:
        n = max((int(c[1:]) + 1 for c in table.df.columns if re.fullmatch(r"f\d+", str(c))), default=0)
        if n == 0:
            raise DataError("no idx:value tokens after the label on any line: nothing to learn from",
                            file=str(files[0]) if files else None)
        for k in range(n):
            col = table.df[f"f{k}"]
            if col.isna().any():  # positions past the end of every row of one file
                table.df[f"f{k}"] = col.fillna("")
        return schema.with_positions(n)
    if schema.format is None and files and all(detect_format(f) == "libfm" for f in files):
        return replace(schema, format="libfm")
    return schema


def fit_encoder_parquet(path: str | os.PathLike, schema: Schema, *, batch_size: int = 65536) -> TabularEncoder:
    """Fit an encoder on a Parquet file too large for memory, one record batch at a time.

    Token counts, numeric moments and observed lengths are accumulated over the
    batches; ``min_count`` applies to the total counts. Gives the same encoder as
    :meth:`TabularEncoder.fit` on the whole file (up to float rounding of the moments).
    """
    import pandas as pd
    import pyarrow.parquet as pq
    from plexus.platform.data.tabular.encoder import _DEFAULT_SEQ_MAX, _as_str, _tokens

    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    probe = TabularEncoder(schema)
    totals: dict[str, pd.Series] = {}
    moments: dict[str, list[float]] = {}
    lens: dict[str, int] = {}
    first = 1
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
        table = RawTable.from_frame(batch.to_pandas(), str(path), first)
        first += len(table)
        for f in schema.fields:
            col = probe._column(table, f)
            if f.type == "numeric":
                if f.transform == "standardize":
                    v = probe._numeric(table, f, col)
                    m = moments.setdefault(f.name, [0.0, 0.0, 0.0])
                    m[0] += len(v)
                    m[1] += float(v.sum())
                    m[2] += float((v * v).sum())
                continue
            if f.type == "categorical":
                toks = _as_str(col).to_numpy()
            else:
                rows, toks = _tokens(col, f.separator or " ")
                if len(rows):
                    lens[f.name] = max(lens.get(f.name, 1), int(np.bincount(rows).max()))
            c = pd.Series(toks).value_counts(sort=False)
            totals[f.vocab_key] = c if f.vocab_key not in totals else totals[f.vocab_key].add(c, fill_value=0)
    enc = TabularEncoder(schema)
    owners = {f.name: f for f in schema.fields}
    for key, c in totals.items():
        mc = owners[key].min_count if owners[key].min_count is not None else schema.min_count
        c = c[c >= mc]
        order = pd.DataFrame({"tok": np.asarray(c.index, dtype=object), "n": c.to_numpy()}).sort_values(
            ["n", "tok"], ascending=[False, True], kind="mergesort")
        enc.vocabs[key] = order["tok"].tolist()
    for name, (n, s, ss) in moments.items():
        mean = s / max(n, 1)
        std = max(ss / max(n, 1) - mean * mean, 0.0) ** 0.5  # population std, as in fit()
        enc.stats[name] = {"mean": mean, "std": std if std > 1e-12 else 1.0}
    for f in schema.fields:
        if f.type in ("multi", "sequence"):
            obs = lens.get(f.name, 1)
            enc.max_lens[f.name] = f.max_len or (min(obs, _DEFAULT_SEQ_MAX) if f.type == "sequence" else obs)
    enc.fitted = True
    return enc


def iter_parquet_batches(
    path: str | os.PathLike, encoder: TabularEncoder, batch_size: int = 65536
) -> Iterator[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
    """Stream a Parquet file row group by row group, yielding encoded ``(features, labels)`` batches.

    Only one record batch (at most ``batch_size`` rows of one row group) is in
    memory at a time; row numbers in errors count from the start of the file.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    pf = pq.ParquetFile(path)
    cols = [c for c in encoder.schema.required_columns() if c in pf.schema_arrow.names]
    missing = [c for c in encoder.schema.required_columns() if c not in pf.schema_arrow.names]
    if missing:
        raise DataError(f"missing column(s) {missing}", file=str(path), field=missing[0])
    first = 1
    for rg in range(pf.num_row_groups):
        for batch in pf.iter_batches(batch_size=batch_size, row_groups=[rg], columns=cols):
            df = batch.to_pandas()
            table = RawTable.from_frame(df, str(path), first)
            first += len(df)
            enc = encoder.encode(table)
            yield ({k: torch.from_numpy(v) for k, v in enc.features.items()},
                   {k: torch.from_numpy(v) for k, v in enc.labels.items()})
