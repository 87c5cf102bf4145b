"""Built-in tabular datasets (CTR and multi-task), registered as ``plexus.datasets`` entry points.

Every loader takes ``path`` (a folder holding the raw files; default: the
verified copy under ``$PLEXUS_DATA/raw``, downloaded on first use from the
source declared in :mod:`~plexus.platform.data.sources`) and ``task`` plus typed
options, and returns a cached, split :class:`~plexus.platform.data.TabularDataset`.
None of the raw files is bundled: their terms (non-commercial / no
redistribution) do not fit Plexus' Apache-2.0 package.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from plexus.platform.catalog import register_dataset
from plexus.platform.data._types import TabularDataset
from plexus.platform.data.sources import ensure_raw
from plexus.platform.data.tabular import RawTable, Schema, load_tabular, read_text_table
from plexus.platform.errors import ConfigError, DataError

__all__ = ["amazon_beauty", "behavior_schema", "census_income", "criteo_10k", "frappe", "movielens_100k", "movielens_mtl"]

_CRITEO_URL = "https://github.com/shichence/AutoInt/blob/master/train_examples.txt"
_FRAPPE_URL = "https://github.com/hexiangnan/neural_factorization_machine/tree/master/data/frappe"
_ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
_BEAUTY_URL = "https://github.com/RUCAIBox/CIKM2020-S3Rec/tree/master/data"
_CENSUS_URL = "https://archive.ics.uci.edu/dataset/117/census+income+kdd"


def _raw(name: str, path: str | None, files: list[str]) -> Path:
    return ensure_raw(name, path, files=files)


def _check_task(name: str, task: str, allowed: tuple[str, ...]) -> None:
    if task not in allowed:
        raise ConfigError(f"dataset '{name}' supports task(s) {list(allowed)}, not '{task}'")


# ---------------------------------------------------------------------------- criteo-10k
CRITEO_COLUMNS = ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]


def criteo_schema(numeric_transform: str = "criteo_log2", min_count: int = 1) -> Schema:
    fields = [{"name": f"I{i}", "type": "numeric", "transform": numeric_transform} for i in range(1, 14)]
    fields += [{"name": f"C{i}", "type": "categorical"} for i in range(1, 27)]
    return Schema.from_dict({"format": "tsv", "header": False, "columns": CRITEO_COLUMNS, "min_count": min_count,
                             "fields": fields, "labels": [{"name": "label"}]}, source="<builtin:criteo-10k>")


@register_dataset("criteo-10k", "ctr", size="10,000 rows", summary="Criteo display-ads CTR, first 10,000 rows (AutoInt sample); "
                  "13 numeric + 26 categorical fields, seeded 8:1:1", source=_CRITEO_URL)
def criteo_10k(path: str | None = None, task: str = "ctr", seed: int = 0,
               numeric_transform: Literal["criteo_log2", "log", "standardize", "none"] = "criteo_log2",
               min_count: int = 1) -> TabularDataset:
    """Criteo 10k: label, I1..I13 (numeric), C1..C26 (hashed categoricals).

    Args:
        path: folder holding ``train_examples.txt``.
        task: ``ctr``.
        seed: seed of the random 8:1:1 split.
        numeric_transform: transform of I1..I13 (``criteo_log2``: v > 2 -> floor(ln(v)^2)).
        min_count: vocabulary min count of the categorical fields.
    """
    _check_task("criteo-10k", task, ("ctr",))
    root = _raw("criteo-10k", path, ["train_examples.txt"])
    return load_tabular([root / "train_examples.txt"], criteo_schema(numeric_transform, min_count),
                        name="criteo-10k", task=task, split="random", seed=seed,
                        description="Criteo display advertising, first 10,000 rows (AutoInt's sample); "
                                    f"random 8:1:1 split, seed {seed}.")


# ---------------------------------------------------------------------------- census-income
CENSUS_COLUMNS = [
    "age", "class_worker", "det_ind_code", "det_occ_code", "education", "wage_per_hour", "hs_college",
    "marital_stat", "major_ind_code", "major_occ_code", "race", "hisp_origin", "sex", "union_member",
    "unemp_reason", "full_or_part_emp", "capital_gains", "capital_losses", "stock_dividends", "tax_filer_stat",
    "region_prev_res", "state_prev_res", "det_hh_fam_stat", "det_hh_summ", "instance_weight", "mig_chg_msa",
    "mig_chg_reg", "mig_move_reg", "mig_same", "mig_prev_sunbelt", "num_emp", "fam_under_18", "country_father",
    "country_mother", "country_self", "citizenship", "own_or_self", "vet_question", "vet_benefits",
    "weeks_worked", "year", "income_50k",
]
_CENSUS_NUMERIC = {"age": "standardize", "wage_per_hour": "log", "capital_gains": "log", "capital_losses": "log",
                   "stock_dividends": "log", "num_emp": "standardize", "weeks_worked": "standardize"}
_CENSUS_SKIP = {"instance_weight", "income_50k", "marital_stat"}  # weight: not a feature; the two labels


def census_schema(tasks: tuple[str, ...] = ("income", "marital")) -> Schema:
    fields = []
    for c in CENSUS_COLUMNS:
        if c in _CENSUS_SKIP:
            continue
        if c in _CENSUS_NUMERIC:
            fields.append({"name": c, "type": "numeric", "transform": _CENSUS_NUMERIC[c]})
        else:
            fields.append({"name": c, "type": "categorical"})
    labels = {"income": {"name": "income", "column": "income_50k", "rule": {"equals": "50000+."}},
              "marital": {"name": "marital", "column": "marital_stat", "rule": {"equals": "Never married"}}}
    return Schema.from_dict({"format": "csv", "header": False, "columns": CENSUS_COLUMNS, "separator": ", ",
                             "fields": fields, "labels": [labels[t] for t in tasks]},
                            source="<builtin:census-income>")


@register_dataset("census-income", ("multitask", "ctr"), size="99,762 rows", summary="UCI Census-Income (KDD) test file, two tasks "
                  "(income > 50k, never married) as in MMoE; seeded 8:1:1", source=_CENSUS_URL)
def census_income(path: str | None = None, task: str = "multitask", seed: int = 0) -> TabularDataset:
    """Census-Income (KDD), the MMoE multi-task benchmark, from UCI's ``census-income.test.gz`` (99,762 rows).

    Tasks ``income`` (income_50k == '50000+.') and ``marital`` (marital_stat ==
    'Never married'); 7 numeric and 32 categorical features (instance_weight and
    the two label columns are not features). UCI's training file is not used:
    the test file is re-split 8:1:1 with ``seed``. With ``task='ctr'`` only the
    income label is kept.

    Args:
        path: folder holding ``census-income.test.gz``.
        task: ``multitask`` (both labels) or ``ctr`` (income only).
        seed: seed of the random 8:1:1 split.
    """
    _check_task("census-income", task, ("multitask", "ctr"))
    root = _raw("census-income", path, ["census-income.test.gz"])
    schema = census_schema(("income", "marital") if task == "multitask" else ("income",))
    return load_tabular([root / "census-income.test.gz"], schema, name="census-income", task=task, split="random",
                        seed=seed, description="UCI Census-Income (KDD) test file (99,762 rows) re-split 8:1:1 "
                        f"(seed {seed}); tasks: income > 50k, never married.")


# ---------------------------------------------------------------------------- frappe
FRAPPE_FIELDS = ["user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city"]
_FRAPPE_ROLES = {"user": "user", "item": "item"}


@register_dataset("frappe", "ctr", size="86,582 rows", summary="Frappe app usage (NFM libFM files): validation+test parts, 86,582 rows, "
                  "10 categorical fields, re-split 8:1:1", source=_FRAPPE_URL)
def frappe(path: str | None = None, task: str = "ctr", seed: int = 0) -> TabularDataset:
    """Frappe context-aware app usage, NFM's preprocessed libFM version.

    Only NFM's validation (57,722) and test (28,860) files are available; their
    86,582 rows are pooled and re-split 8:1:1 with ``seed`` (numbers are not
    comparable to papers that train on the 202,027-row train file). Fields: the
    10 libFM field groups user, item, daytime, weekday, isweekend, homework,
    cost, weather, country, city (token k of a line is field k). Label 1 /
    -1 (sampled negative) becomes 1 / 0.

    Args:
        path: folder holding ``frappe.validation.libfm`` and ``frappe.test.libfm``.
        task: ``ctr``.
        seed: seed of the random 8:1:1 split.
    """
    _check_task("frappe", task, ("ctr",))
    files = ["frappe.validation.libfm", "frappe.test.libfm"]
    root = _raw("frappe", path, files)
    schema = Schema.from_dict({
        "format": "libfm", "columns": ["label"] + FRAPPE_FIELDS,
        "fields": [{"name": f, "type": "categorical", "role": _FRAPPE_ROLES.get(f, "context")} for f in FRAPPE_FIELDS],
        "labels": [{"name": "label", "rule": {"threshold": 0}}]}, source="<builtin:frappe>")
    return load_tabular([root / f for f in files], schema, name="frappe", task=task, split="random", seed=seed,
                        description="Frappe (NFM libFM version): the validation + test files only (86,582 rows; "
                                    f"the train file is not available), pooled and re-split 8:1:1 with seed {seed}.")


# ---------------------------------------------------------------------------- movielens
_ML_FILES = ["u.data", "u.user", "u.item", "u.genre"]


def _movielens_frame(root: Path) -> RawTable:
    """u.data rows (line numbers of u.data) joined with user and movie side information."""
    table = read_text_table(root / "u.data", sep="\t", header=False, columns=["user", "movie", "rating", "time"])
    users = pd.read_csv(root / "u.user", sep="|", header=None, names=["user", "age", "gender", "occupation", "zip"],
                        dtype=str, keep_default_na=False).set_index("user")
    genre_names = pd.read_csv(root / "u.genre", sep="|", header=None, names=["g", "i"], dtype=str)["g"].tolist()
    items = pd.read_csv(root / "u.item", sep="|", header=None, encoding="latin-1", dtype=str, keep_default_na=False)
    flags = items.iloc[:, 5:5 + len(genre_names)].to_numpy() == "1"
    genres = pd.Series(["|".join(g for g, f in zip(genre_names, row) if f) for row in flags],
                       index=items[0].to_numpy(), dtype=object)
    df = table.df
    for c in ("age", "gender", "occupation", "zip"):
        mapped = df["user"].map(users[c])
        bad = np.flatnonzero(mapped.isna().to_numpy())
        if len(bad):
            raise table.error(int(bad[0]), f"user id {df['user'].iloc[bad[0]]!r} is not in u.user", "user")
        df[c] = mapped.to_numpy(dtype=object)
    g = df["movie"].map(genres)
    bad = np.flatnonzero(g.isna().to_numpy())
    if len(bad):
        raise table.error(int(bad[0]), f"movie id {df['movie'].iloc[bad[0]]!r} is not in u.item", "movie")
    df["genres"] = g.to_numpy(dtype=object)
    df["rating"] = pd.to_numeric(df["rating"], errors="coerce")
    bad = np.flatnonzero(~df["rating"].isin([1, 2, 3, 4, 5]).to_numpy())
    if len(bad):
        raise table.error(int(bad[0]), "rating must be an integer 1..5", "rating")
    return table


_ML_USER_FIELDS = [{"name": c, "type": "categorical", "role": "user"} for c in ("user", "age", "gender", "occupation",
                                                                                "zip")]
_ML_ITEM_FIELDS = [{"name": "movie", "type": "categorical", "role": "item"},
                   {"name": "genres", "type": "multi", "separator": "|", "role": "item", "padding": "right"}]


@register_dataset("movielens-100k", "ctr", size="72,855 rows", summary="MovieLens 100K as CTR (AutoInt protocol: rating > 3 positive, "
                  "< 3 negative, = 3 dropped), seeded 8:1:1", source=_ML100K_URL)
def movielens_100k(path: str | None = None, task: str = "ctr", seed: int = 0) -> TabularDataset:
    """MovieLens 100K turned into CTR as in AutoInt: ratings above 3 are positives, below 3 negatives,
    ratings of 3 are dropped (72,855 rows remain).

    Fields: user, age, gender, occupation, zip (role user); movie (item);
    genres (multi-valued, item); time (unix seconds, standardised; context).
    Split: random 8:1:1 with ``seed``.

    Args:
        path: folder holding u.data, u.user, u.item, u.genre.
        task: ``ctr``.
        seed: seed of the random 8:1:1 split.
    """
    _check_task("movielens-100k", task, ("ctr",))
    root = _raw("movielens-100k", path, _ML_FILES)

    def build() -> RawTable:
        t = _movielens_frame(root)
        return t.take(np.flatnonzero((t.df["rating"] != 3).to_numpy()))

    schema = Schema.from_dict({
        "fields": _ML_USER_FIELDS + _ML_ITEM_FIELDS + [{"name": "time", "type": "numeric", "transform": "standardize",
                                                        "role": "context"}],
        "labels": [{"name": "label", "column": "rating", "rule": {"threshold": 3}}],
        "group": "user", "timestamp": "time"}, source="<builtin:movielens-100k>")
    return load_tabular([root / f for f in _ML_FILES], schema, name="movielens-100k", task=task, split="random",
                        seed=seed, build=build,
                        description="MovieLens 100K, AutoInt protocol (rating>3 positive, <3 negative, =3 dropped); "
                                    f"random 8:1:1 split, seed {seed}.")


def _histories(df: pd.DataFrame, keep: np.ndarray, max_len: int) -> list[list[int]]:
    """Per row: the movies of the same user with ``keep`` and a strictly earlier timestamp (last ``max_len``)."""
    users = df["user"].to_numpy()
    ts = df["time"].to_numpy(np.int64)
    movies = df["movie"].to_numpy()
    out: list[list[int]] = [[] for _ in range(len(df))]
    order = np.lexsort((np.arange(len(df)), ts, users))
    bounds = np.flatnonzero(np.r_[True, users[order][1:] != users[order][:-1], True])
    for a, b in pairwise(bounds):
        rows = order[a:b]
        t = ts[rows]
        cut = np.searchsorted(t, t, side="left")  # rows strictly before this one's timestamp
        kept = rows[keep[rows]]
        prefix = np.r_[0, np.cumsum(keep[rows])]
        m = movies[kept].tolist()
        for r, c in zip(rows.tolist(), prefix[cut].tolist()):
            out[r] = m[max(0, c - max_len):c]
    return out


@register_dataset("movielens-mtl", "multitask", size="100,000 rows", summary="MovieLens 100K multi-task (like: rating >= 4, dislike: "
                  "rating <= 2) with liked / disliked behaviour sequences, time split 8:1:1", source=_ML100K_URL)
def movielens_mtl(path: str | None = None, task: str = "multitask", max_hist: int = 50) -> TabularDataset:
    """MovieLens 100K as a two-behaviour multi-task problem (for DTRN-style models).

    Every rating is a row with tasks ``like`` (rating >= 4) and ``dislike``
    (rating <= 2). Behaviour sequences: the user's movies rated >= 4
    (``hist_like``) and <= 2 (``hist_dislike``) with a timestamp strictly before
    the row's, the last ``max_hist`` of each, left-padded and sharing the movie
    vocabulary. ``spec.extra["behaviors"] = {"pos": ["hist_like"], "neg":
    ["hist_dislike"]}``. Split by time: oldest 80% train, next 10% val, newest 10% test.

    Args:
        path: folder holding u.data, u.user, u.item, u.genre.
        task: ``multitask``.
        max_hist: maximum length of each behaviour sequence.
    """
    _check_task("movielens-mtl", task, ("multitask",))
    if max_hist < 1:
        raise ConfigError(f"max_hist must be >= 1, got {max_hist}")
    root = _raw("movielens-100k", path, _ML_FILES)

    def build() -> RawTable:
        t = _movielens_frame(root)
        r = t.df["rating"].to_numpy()
        t.df["hist_like"] = pd.Series(_histories(t.df, r >= 4, max_hist), dtype=object)
        t.df["hist_dislike"] = pd.Series(_histories(t.df, r <= 2, max_hist), dtype=object)
        return t

    seq = {"type": "sequence", "separator": " ", "max_len": max_hist, "padding": "left", "share_vocab": "movie",
           "role": "behavior"}
    schema = Schema.from_dict({
        "fields": [f for f in _ML_USER_FIELDS if f["name"] != "zip"] + _ML_ITEM_FIELDS
        + [{"name": "hist_like", **seq}, {"name": "hist_dislike", **seq}],
        "labels": [{"name": "like", "column": "rating", "rule": {"threshold": 3}},
                   {"name": "dislike", "column": "rating", "rule": {"in": [1, 2]}}],
        "group": "user", "timestamp": "time"}, source="<builtin:movielens-mtl>")
    return load_tabular([root / f for f in _ML_FILES], schema, name="movielens-mtl", task=task, split="time",
                        build=build, options={"max_hist": max_hist},
                        extra={"behaviors": {"pos": ["hist_like"], "neg": ["hist_dislike"]}},
                        description="MovieLens 100K multi-task: like (rating>=4) / dislike (rating<=2), with earlier "
                                    f"liked / disliked movies (last {max_hist}) as behaviour sequences; "
                                    "time split 8:1:1.")


# ---------------------------------------------------------------------------- amazon-beauty
def behavior_schema(max_hist: int, name: str) -> Schema:
    """DIN's layout: user; candidate item and cate; hist_item / hist_cate (left-padded behaviour sequences
    sharing the candidate's vocabularies); label; grouped by user, ordered by ``t``."""
    seq = {"type": "sequence", "separator": " ", "max_len": max_hist, "padding": "left", "role": "behavior"}
    return Schema.from_dict({
        "fields": [{"name": "user", "type": "categorical", "role": "user"},
                   {"name": "item", "type": "categorical", "role": "item"},
                   {"name": "cate", "type": "categorical", "role": "item"},
                   {"name": "hist_item", "share_vocab": "item", **seq},
                   {"name": "hist_cate", "share_vocab": "cate", **seq}],
        "labels": [{"name": "label"}], "group": "user", "timestamp": "t"}, source=f"<builtin:{name}>")


def _beauty_frame(root: Path, max_hist: int, seed: int, max_users: int = 0) -> RawTable:
    from plexus.platform.data.tabular import leave_last_out_split

    path = root / "Beauty.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        attrs = json.loads((root / "Beauty_item2attributes.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", file=str(root / "Beauty_item2attributes.json"),
                        row=exc.lineno) from None
    seqs, line_of = [], []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ids = np.asarray(line.split(), dtype=np.int64)
        except ValueError:
            raise DataError("expected space-separated integer ids", file=str(path), row=i) from None
        if len(ids) < 3:
            raise DataError(f"user {ids[0] if len(ids) else '?'} has fewer than 2 interactions", file=str(path), row=i)
        seqs.append(ids)
        line_of.append(i)
    if 0 < max_users < len(seqs):  # a seeded, deterministic subset of users, drawn before the split
        keep = np.sort(np.random.default_rng(seed).choice(len(seqs), max_users, replace=False))
        seqs, line_of = [seqs[k] for k in keep], [line_of[k] for k in keep]
    n_items = max(int(s[1:].max()) for s in seqs)
    cate_of = np.zeros(n_items + 1, dtype=np.int64)  # 0 = no attribute
    for k, v in attrs.items():
        if v and int(k) <= n_items:
            cate_of[int(k)] = int(v[0])
    rows_user, rows_line, rows_t, rows_item, hists = [], [], [], [], []
    for s, ln in zip(seqs, line_of):
        u, items = int(s[0]), s[1:]
        for t in range(1, len(items)):
            rows_user.append(u)
            rows_line.append(ln)
            rows_t.append(t)
            rows_item.append(int(items[t]))
            hists.append(items[max(0, t - max_hist):t])
    users = np.asarray(rows_user)
    pos_item = np.asarray(rows_item)
    # one negative per positive: an item the user never interacted with (DIN's build_dataset rule)
    rng = np.random.default_rng(seed)
    seen = np.unique(np.concatenate([s[0] * (n_items + 1) + s[1:] for s in seqs]))
    neg = rng.integers(1, n_items + 1, len(users))
    clash = np.isin(users * (n_items + 1) + neg, seen)
    while clash.any():
        neg[clash] = rng.integers(1, n_items + 1, int(clash.sum()))
        clash = np.isin(users * (n_items + 1) + neg, seen)
    parts = leave_last_out_split(users, np.asarray(rows_t))
    split = np.empty(len(users), dtype=object)
    for name, idx in parts.items():
        split[idx] = name
    hist_cate = [cate_of[h] for h in hists]
    n = len(users)
    df = pd.DataFrame({
        "user": np.tile(users, 2), "item": np.r_[pos_item, neg], "cate": cate_of[np.r_[pos_item, neg]],
        "hist_item": pd.Series(hists + hists, dtype=object), "hist_cate": pd.Series(hist_cate + hist_cate,
                                                                                    dtype=object),
        "t": np.tile(np.asarray(rows_t), 2), "label": np.r_[np.ones(n), np.zeros(n)],
        "_split": np.tile(split, 2),
    })
    line = np.tile(np.asarray(rows_line, dtype=np.int64), 2)
    return RawTable(df, [str(path)], np.zeros(len(df), np.int32), line)


@register_dataset("amazon-beauty", "ctr", size="352,278 rows", summary="Amazon Beauty behaviour-sequence CTR (DIN protocol: per-user "
                  "leave-last-out, history up to 50, one sampled negative per positive)", source=_BEAUTY_URL)
def amazon_beauty(path: str | None = None, task: str = "ctr", seed: int = 0, max_hist: int = 50,
                  max_users: int = 0) -> TabularDataset:
    """Amazon Beauty (S3-Rec 5-core copy) as DIN's Amazon CTR task.

    For each user's time-ordered reviews i_1..i_n and each position t >= 2 the
    target i_t with history i_1..i_{t-1} (last ``max_hist``) is a positive, and
    the same history with a random item the user never reviewed a negative.
    Per-user leave-last-out: the last target is test, the one before val, the
    rest train (both rows of a pair go to the same split). Side feature: the
    item's first attribute as its category. Fields: user (role user), item and
    cate (role item, the candidate), hist_item / hist_cate (sequences, role
    behavior, sharing the item / cate vocabularies, left-padded).

    Args:
        path: folder holding ``Beauty.txt`` and ``Beauty_item2attributes.json``.
        task: ``ctr``.
        seed: seed of the negative sampling.
        max_hist: maximum history length.
        max_users: keep a random subset of this many users (drawn with ``seed`` before the
            split, so quick runs stay comparable); 0 keeps every user.
    """
    _check_task("amazon-beauty", task, ("ctr",))
    if max_hist < 1:
        raise ConfigError(f"max_hist must be >= 1, got {max_hist}")
    if max_users < 0:
        raise ConfigError(f"max_users must be >= 0 (0 = all users), got {max_users}")
    files = ["Beauty.txt", "Beauty_item2attributes.json"]
    root = _raw("amazon-beauty", path, files)
    schema = behavior_schema(max_hist, "amazon-beauty")
    return load_tabular([root / f for f in files], schema, name="amazon-beauty", task=task, split="column", seed=seed,
                        build=lambda: _beauty_frame(root, max_hist, seed, max_users),
                        options={"max_hist": max_hist, **({"max_users": max_users} if max_users else {})},
                        extra={"behaviors": {"pos": ["hist_item", "hist_cate"]}},
                        description="Amazon Beauty (S3-Rec 5-core), DIN protocol: per-user leave-last-out, history "
                                    f"up to {max_hist}, one sampled negative per positive (seed {seed}); category = "
                                    "first item attribute."
                                    + (f" Subset of {max_users} users." if max_users else ""))
