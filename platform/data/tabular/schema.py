"""Tabular schema: which columns are features, labels, user ids and timestamps.

A schema is a small YAML file (read with ``yaml.safe_load``)::

    format: tsv                # csv | tsv | parquet | libfm (default: from the file extension)
    header: false              # csv/tsv: first line holds column names
    columns: [label, I1, C1]   # column names when there is no header (libfm: one name per token)
    min_count: 1               # default vocabulary min count
    fields:
      - {name: C1, type: categorical, min_count: 2}
      - {name: I1, type: numeric, transform: criteo_log2}     # none|standardize|log|criteo_log2|bucketize
      - {name: price, type: numeric, transform: bucketize, bins: [1, 10, 100]}
      - {name: genres, type: multi, separator: "|", max_len: 5}
      - {name: hist, type: sequence, separator: " ", max_len: 50, padding: left, share_vocab: item}
    labels:
      - {name: click, column: label}                          # values must be 0/1
      - {name: like, column: rating, rule: {threshold: 3}}    # rating > 3 -> 1
    group: user_id             # optional, for GAUC
    timestamp: ts              # optional, for time splits
    split: {method: random, seed: 0, fractions: [0.8, 0.1, 0.1]}

Splits (``split.method``): ``random`` (``seed``, ``fractions``), ``time`` (``fractions``;
oldest rows train), ``user`` (``seed``, ``fractions``; users, not rows, are split),
``leave_last_out`` (per user: latest row test, the one before val), and two *given*
splits: ``{method: column, column: part}`` (each row's value ``train``, ``val`` or
``test`` says where it goes; the column is not a feature) and
``{method: files, train: a.csv, val: b.csv, test: c.csv}`` (three files, each read
and checked like a single file; relative paths are relative to the schema file's
folder). Vocabularies and numeric statistics are always fitted on train rows only.

libFM / libSVM (``format: libfm``, or its alias ``libsvm``): ``fields: auto`` (the
default when no fields are listed) makes one categorical field per token position,
``f0 .. f{n-1}``, ``n`` the widest row over all files; a shorter row leaves its
trailing positions empty (``""``, encoded as a value of its own). The label
defaults to ``[label]``, the first token of each line; libFM files may use 0/1 or
-1/+1 (-1 -> 0).

Every problem in the schema itself raises :class:`DataError` naming the schema
file and the offending field.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from plexus.platform.errors import DataError

__all__ = ["FIELD_TYPES", "FORMATS", "SPLIT_METHODS", "SPLIT_VALUES", "TRANSFORMS", "FieldDef", "LabelDef", "Schema"]

FIELD_TYPES = ("categorical", "numeric", "multi", "sequence")
TRANSFORMS = ("none", "standardize", "log", "criteo_log2", "bucketize")
FORMATS = ("csv", "tsv", "parquet", "libfm")
FORMAT_ALIASES = {"libsvm": "libfm"}
SPLIT_METHODS = ("random", "time", "leave_last_out", "user", "column", "files")
GIVEN_SPLITS = ("column", "files")
SPLIT_VALUES = ("train", "val", "test")
_SPLIT_KEYS = {"random": {"seed", "fractions"}, "time": {"fractions"}, "leave_last_out": set(),
               "user": {"seed", "fractions"}, "column": {"column"}, "files": {"train", "val", "test"}}
RULES = ("threshold", "equals", "in")
_FIELD_KEYS = {"name", "type", "column", "transform", "bins", "separator", "max_len", "padding", "share_vocab",
               "min_count", "role", "fill"}
_TOP_KEYS = {"format", "header", "columns", "separator", "min_count", "fields", "labels", "group", "timestamp",
             "split", "name", "description", "task", "encoding"}


@dataclass
class FieldDef:
    """One feature column. ``column`` defaults to ``name``."""

    name: str
    type: str
    column: str = ""
    transform: str = "none"
    bins: list[float] | None = None
    separator: str | None = None
    max_len: int | None = None
    padding: str = "left"
    share_vocab: str | None = None
    min_count: int | None = None
    role: str | None = None
    fill: float = 0.0

    @property
    def vocab_key(self) -> str:
        return self.share_vocab or self.name

    @property
    def is_categorical_like(self) -> bool:
        return self.type != "numeric" or self.transform == "bucketize"


@dataclass
class LabelDef:
    """One task. ``rule``: ``{threshold: t}`` (v > t), ``{equals: v}`` or ``{in: [..]}``; none: values must be 0/1."""

    name: str
    column: str = ""
    rule: dict[str, Any] | None = None


@dataclass
class Schema:
    fields: list[FieldDef]
    labels: list[LabelDef]
    format: str | None = None
    header: bool = True
    columns: list[str] | None = None
    separator: str | None = None
    min_count: int = 1
    group: str | None = None
    timestamp: str | None = None
    split: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    description: str = ""
    task: str | None = None
    encoding: str = "utf-8"
    auto_fields: bool = False
    source: str = field(default="<schema>", compare=False)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_yaml(cls, path: str | Path) -> Schema:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError("schema file not found", file=str(path)) from None
        except UnicodeDecodeError as exc:
            raise DataError(f"schema is not valid UTF-8 ({exc.reason})", file=str(path)) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise DataError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                            row=mark.line + 1 if mark is not None else None) from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<schema>") -> Schema:
        def err(msg: str, fld: str | None = None) -> DataError:
            return DataError(msg, file=source, field=fld)

        if not isinstance(data, dict):
            raise err("a schema must be a mapping with 'fields' and 'labels'")
        data = copy.deepcopy(data)
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise err(f"unknown schema key(s) {sorted(unknown)}; expected some of {sorted(_TOP_KEYS)}")
        raw_fields = data.pop("fields", None)
        raw_labels = data.pop("labels", None)
        fmt = data.get("format")
        if isinstance(fmt, str) and fmt in FORMAT_ALIASES:
            data["format"] = fmt = FORMAT_ALIASES[fmt]
        auto = raw_fields == "auto" or (raw_fields is None and fmt == "libfm")
        if auto:
            if fmt not in (None, "libfm"):
                raise err(f"'fields: auto' needs libFM/libSVM data, not format '{fmt}'", "fields")
            if data.get("columns") is not None:
                raise err("'fields: auto' names the columns itself (label, f0, f1, ...); drop 'columns' "
                          "or list the fields", "columns")
            raw_fields = []
            if raw_labels is None:
                raw_labels = ["label"]
        elif not isinstance(raw_fields, list) or not raw_fields:
            raise err("'fields' must be a non-empty list, or 'auto' for libFM/libSVM data")
        if isinstance(raw_labels, (str, dict)):
            raw_labels = [raw_labels]
        if not isinstance(raw_labels, list) or not raw_labels:
            raise err("'labels' must list at least one label column")
        fields = [_field(f, i, err) for i, f in enumerate(raw_fields)]
        labels = []
        for lab in raw_labels:
            if isinstance(lab, str):
                lab = {"name": lab}
            if not isinstance(lab, dict) or not isinstance(lab.get("name"), str):
                raise err(f"each label needs a 'name', got {lab!r}")
            bad = set(lab) - {"name", "column", "rule"}
            if bad:
                raise err(f"unknown label key(s) {sorted(bad)}", lab["name"])
            rule = lab.get("rule")
            if rule is not None and (not isinstance(rule, dict) or len(rule) != 1 or next(iter(rule)) not in RULES):
                raise err(f"label rule must be one of {{threshold: x}}, {{equals: v}}, {{in: [..]}}, got {rule!r}",
                          lab["name"])
            labels.append(LabelDef(lab["name"], lab.get("column") or lab["name"], rule))
        if auto and len(labels) != 1:
            raise err("libFM/libSVM data has one label per line (the first token)", labels[0].name)
        try:
            schema = cls(fields=fields, labels=labels, source=source, auto_fields=auto, **data)
        except TypeError as exc:
            raise err(f"invalid schema: {exc}") from None
        schema._validate(err)
        return schema

    def _validate(self, err: Any) -> None:
        names = [f.name for f in self.fields] + [lab.name for lab in self.labels]
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise err("duplicate field name", n)
            seen.add(n)
        by_name = {f.name: f for f in self.fields}
        for f in self.fields:
            if f.share_vocab is not None:
                target = by_name.get(f.share_vocab)
                if target is None:
                    raise err(f"share_vocab refers to unknown field '{f.share_vocab}'", f.name)
                if target.share_vocab is not None:
                    raise err(f"share_vocab target '{target.name}' itself shares a vocabulary", f.name)
                if target.type == "numeric":
                    raise err(f"cannot share the vocabulary of numeric field '{target.name}'", f.name)
        if self.format is not None and self.format not in FORMATS:
            raise err(f"unknown format '{self.format}'; expected one of {FORMATS}")
        if not isinstance(self.min_count, int) or self.min_count < 1:
            raise err(f"min_count must be an integer >= 1, got {self.min_count!r}")
        if self.columns is not None and (not isinstance(self.columns, list) or len(set(self.columns)) != len(self.columns)):
            raise err("'columns' must be a list of distinct names")
        if not isinstance(self.split, dict):
            raise err(f"'split' must be a mapping such as {{method: random}}, got {self.split!r}", "split")
        method = self.split.get("method", "random")
        if method not in SPLIT_METHODS:
            raise err(f"split method must be one of {SPLIT_METHODS}, got {method!r}", "split")
        extra = set(self.split) - {"method"} - _SPLIT_KEYS[method]
        if extra:
            raise err(f"unknown key(s) {sorted(extra)} for split method '{method}'; expected some of "
                      f"{sorted(_SPLIT_KEYS[method])}", "split")
        if method == "column":
            col = self.split.get("column")
            if not isinstance(col, str) or not col:
                raise err("a column split needs 'column': the name of the column holding train / val / test",
                          "split")
            if col in [f.column for f in self.fields] + [lab.column for lab in self.labels]:
                raise err(f"split column '{col}' is also a feature or label; a split column is never a feature",
                          col)
        if method == "files":
            missing = [k for k in SPLIT_VALUES if not isinstance(self.split.get(k), str) or not self.split[k]]
            if missing:
                raise err(f"a files split needs a path for each of train, val, test; missing {missing}", "split")
        if method == "time" and not self.timestamp:
            raise err("a time split needs a 'timestamp' column")
        if method in ("leave_last_out", "user") and not self.group:
            raise err(f"a {method} split needs a 'group' (user id) column")
        if method == "leave_last_out" and not self.timestamp:
            raise err("a leave_last_out split needs a 'timestamp' column")

    # ----------------------------------------------------------------- helpers
    @property
    def split_method(self) -> str:
        return self.split.get("method", "random")

    def required_columns(self) -> list[str]:
        cols = [f.column for f in self.fields] + [lab.column for lab in self.labels]
        cols += [c for c in (self.group, self.timestamp) if c]
        if self.split_method == "column":
            cols.append(self.split["column"])
        return list(dict.fromkeys(cols))

    def split_files(self, base: str | Path | None = None) -> dict[str, Path]:
        """``{train, val, test: path}`` of a ``files`` split; relative paths resolve against ``base``
        (default: the schema file's folder)."""
        if self.split_method != "files":
            raise DataError(f"split method is '{self.split_method}', not 'files'", file=self.source)
        root = Path(base) if base is not None else Path(self.source).expanduser().resolve().parent
        out = {}
        for k in SPLIT_VALUES:
            p = Path(self.split[k]).expanduser()
            out[k] = p if p.is_absolute() else root / p
        return out

    def with_positions(self, n: int) -> Schema:
        """A ``fields: auto`` schema made concrete: categorical fields ``f0 .. f{n-1}`` (token positions)."""
        if not self.auto_fields:
            return self
        fields = [FieldDef(name=f"f{k}", type="categorical", column=f"f{k}") for k in range(n)]
        return replace(self, fields=fields, auto_fields=False, format="libfm")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("source")
        if d.pop("auto_fields"):
            d["fields"] = "auto"
        return d

    @classmethod
    def from_json_dict(cls, d: dict[str, Any], source: str = "<schema>") -> Schema:
        d = dict(d)
        d.pop("source", None)
        return cls.from_dict(d, source=source)


def _field(f: Any, i: int, err: Any) -> FieldDef:
    if not isinstance(f, dict) or not isinstance(f.get("name"), str) or not f["name"]:
        raise err(f"fields[{i}] needs a string 'name', got {f!r}")
    name = f["name"]
    bad = set(f) - _FIELD_KEYS
    if bad:
        raise err(f"unknown key(s) {sorted(bad)}; expected some of {sorted(_FIELD_KEYS)}", name)
    ftype = f.get("type")
    if ftype not in FIELD_TYPES:
        raise err(f"unknown field type {ftype!r}; expected one of {FIELD_TYPES}", name)
    fd = FieldDef(name=name, type=ftype, column=f.get("column") or name, transform=f.get("transform", "none"),
                  bins=f.get("bins"), separator=f.get("separator"), max_len=f.get("max_len"),
                  padding=f.get("padding", "left"), share_vocab=f.get("share_vocab"), min_count=f.get("min_count"),
                  role=f.get("role"), fill=f.get("fill", 0.0))
    if fd.transform not in TRANSFORMS:
        raise err(f"unknown transform {fd.transform!r}; expected one of {TRANSFORMS}", name)
    if fd.transform != "none" and ftype != "numeric":
        raise err(f"transform {fd.transform!r} only applies to numeric fields", name)
    if fd.transform == "bucketize":
        b = fd.bins
        if not isinstance(b, list) or not b or not all(isinstance(x, (int, float)) for x in b) or sorted(b) != b:
            raise err("bucketize needs 'bins': a non-empty increasing list of numbers", name)
    elif fd.bins is not None:
        raise err("'bins' is only used with transform: bucketize", name)
    if ftype in ("multi", "sequence"):
        if not isinstance(fd.separator, str) or not fd.separator:
            raise err(f"a {ftype} field needs a non-empty 'separator'", name)
        if fd.max_len is not None and (not isinstance(fd.max_len, int) or fd.max_len < 1):
            raise err(f"max_len must be a positive integer, got {fd.max_len!r}", name)
        if fd.padding not in ("left", "right"):
            raise err(f"padding must be 'left' or 'right', got {fd.padding!r}", name)
    if fd.min_count is not None and (not isinstance(fd.min_count, int) or fd.min_count < 1):
        raise err(f"min_count must be an integer >= 1, got {fd.min_count!r}", name)
    if not isinstance(fd.fill, (int, float)):
        raise err(f"fill must be a number, got {fd.fill!r}", name)
    return fd
