"""Explanations: what a model plugin returns to say why it predicted what it did.

A plugin opts in with two methods (both optional, both duck-typed):

* ``explain(batch, top_k) -> list[RowExplanation]``: one explanation per row of an
  encoded batch (the model in eval mode). Terms name the **fields** (and, for
  sequence fields, the position in the padded sequence) they are about; the caller
  turns them into raw values through the dataset's encoder.
* ``global_attribution(batches, decode) -> GlobalAttribution``: an aggregate over
  many rows (a matrix for a heatmap plus a JSON summary); ``decode(field, id)`` gives
  the raw value of a categorical id, for summaries that name values.

Setting either attribute to ``None`` in a subclass (e.g. a sum-pooling baseline of an
attention model) says it has nothing to explain. :func:`log_global_attribution` is the
training service's end-of-run hook: it writes ``explain/global_attribution.{json,png}``
to the run when the model provides ``global_attribution``.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from plexus.platform.model import capabilities
from torch import Tensor

__all__ = [
    "GlobalAttribution",
    "LoadedRun",
    "RowExplanation",
    "Term",
    "can_explain",
    "can_explain_globally",
    "explain_rows",
    "global_attribution",
    "load_run",
    "log_global_attribution",
    "make_decoder",
    "read_rows",
    "write_global_attribution",
]

MAX_ROWS = 2000  # rows of the validation split the end-of-run attribution reads


@dataclass
class Term:
    """One attributed input combination of one row.

    Args:
        fields: the fields the term is about (a cross feature, a field pair, one field, one behaviour).
        weight: its weight (gate mass, attention weight, gate value: see the explanation's ``title``).
        positions: per field, the index in a sequence field's padded ids (``None``: the whole field).
        group: what the term belongs to ("layer 2", a task name; "" when there is one group).
        note: a short remark shown after the weight ("12 neurons", "3rd most recent").
        field_weights: per field, its part of ``weight`` (e.g. each field's gate mass in a cross feature).
    """

    fields: tuple[str, ...]
    weight: float
    positions: tuple[int | None, ...] | None = None
    group: str = ""
    note: str = ""
    field_weights: tuple[float, ...] | None = None


@dataclass
class RowExplanation:
    """Why one row got its prediction.

    Args:
        kind: ``cross_features`` | ``behavior_attention`` | ``field_pairs`` | ``task_gates`` (or a plugin's own).
        title: one line that says what the weights are.
        terms: the strongest terms, strongest first within each group.
        subject: fields whose values frame the explanation (e.g. DIN's candidate item).
        field_scores: per-field share of the explanation's mass (ranks fields; sums to about 1).
    """

    kind: str
    title: str
    terms: list[Term]
    subject: tuple[str, ...] = ()
    field_scores: dict[str, float] = field(default_factory=dict)


@dataclass
class GlobalAttribution:
    """An aggregate attribution over many rows: a heatmap matrix and a JSON-able summary."""

    kind: str
    title: str
    matrix: list[list[float]]
    row_labels: list[str]
    col_labels: list[str]
    value_label: str
    summary: dict[str, Any] = field(default_factory=dict)
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def can_explain(model: Any) -> bool:
    return capabilities(model).explain


def can_explain_globally(model: Any) -> bool:
    return capabilities(model).global_attribution


def _split_batches(dataset: Any, max_rows: int, batch_size: int = 512) -> tuple[str, list[dict[str, Tensor]]]:
    """Up to ``max_rows`` rows of the validation split (else test, else train), in order."""
    feats = getattr(dataset, "features", None) or {}
    split = next((s for s in ("val", "test", "train") if s in feats and dataset.num_rows(s) > 0), None)
    if split is None:
        return "", []
    out, n = [], 0
    for batch, _, _ in dataset.batches(split, batch_size):
        take = min(len(next(iter(batch.values()))), max_rows - n)
        out.append({k: v[:take] for k, v in batch.items()})
        n += take
        if n >= max_rows:
            break
    return split, out


def _until(batches: list[dict[str, Tensor]], deadline: float | None) -> Iterator[dict[str, Tensor]]:
    """The batches in order, stopping once ``deadline`` (``time.perf_counter``) has passed; the first always."""
    for i, batch in enumerate(batches):
        if i and deadline is not None and time.perf_counter() > deadline:
            return
        yield batch


def global_attribution(model: torch.nn.Module, dataset: Any, max_rows: int = MAX_ROWS,
                       deadline: float | None = None) -> GlobalAttribution | None:
    """The model's global attribution over up to ``max_rows`` validation rows (``None``: nothing to explain).

    ``deadline`` (a ``time.perf_counter()`` value): read no further batch of 512 rows after it; the rows
    actually read are in the result's ``rows``."""
    if not can_explain_globally(model):
        return None
    split, batches = _split_batches(dataset, max_rows)
    if not batches:
        return None
    encoder = getattr(dataset, "encoder", None)
    decode = make_decoder(encoder)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            attr = model.global_attribution(({k: v.to(device) for k, v in b.items()}
                                              for b in _until(batches, deadline)), decode)
    finally:
        model.train(was_training)
    attr.summary.setdefault("split", split)
    return attr


def make_decoder(encoder: Any) -> Callable[[str, int], str]:
    """``decode(field, id)``: the raw token of a categorical id (``<unseen>`` for 1, ``""`` for padding)."""
    fields = {f.name: f for f in encoder.schema.fields} if encoder is not None else {}

    def decode(name: str, idx: int) -> str:
        f = fields.get(name)
        idx = int(idx)
        if f is None or f.type == "numeric":
            return str(idx)
        if idx == 0:
            return ""
        vocab = encoder.vocabs.get(f.vocab_key, [])
        return vocab[idx - 2] if 2 <= idx < len(vocab) + 2 else "<unseen>"

    return decode


def _heatmap(attr: GlobalAttribution, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(attr.row_labels), len(attr.col_labels)
    fig, ax = plt.subplots(figsize=(min(3.0 + 0.2 * cols, 11.0), min(1.6 + 0.2 * rows, 10.0)))
    im = ax.imshow(attr.matrix, aspect="auto", cmap="viridis")
    ax.set_xticks(range(cols), attr.col_labels, rotation=90, fontsize=7)
    ax.set_yticks(range(rows), attr.row_labels, fontsize=7)
    ax.set_title(attr.title if len(attr.title) <= 80 else attr.title[:79] + "…", fontsize=8)
    fig.colorbar(im, ax=ax, label=attr.value_label, shrink=0.8)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def write_global_attribution(attr: GlobalAttribution, folder: Path, **meta: Any) -> list[Path]:
    """Write ``global_attribution.json`` and ``global_attribution.png`` (a heatmap) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    js = folder / "global_attribution.json"
    clean = [[v if math.isfinite(v) else None for v in row] for row in attr.matrix]
    js.write_text(json.dumps({**meta, **attr.to_dict(), "matrix": clean}, indent=1, default=str))
    png = folder / "global_attribution.png"
    _heatmap(attr, png)
    return [js, png]


def log_global_attribution(model: torch.nn.Module, dataset: Any, client: Any, run_id: str,
                           max_rows: int = MAX_ROWS, budget_s: float | None = None) -> dict[str, float] | None:
    """End-of-run hook: log ``explain/global_attribution.{json,png}`` to ``run_id``; returns the cost.

    ``budget_s``: the time the attribution may take (the training service passes 5 % of the fit): rows are
    read batch by batch until half of it is spent, the other half is left for the heatmap and the upload."""
    if not can_explain_globally(model):
        return None
    t0 = time.perf_counter()
    attr = global_attribution(model, dataset, max_rows, None if budget_s is None else t0 + budget_s / 2)
    if attr is None:
        return None
    compute_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        write_global_attribution(attr, Path(tmp), model=type(model).__name__, compute_seconds=round(compute_s, 4))
        client.log_artifacts(run_id, tmp, "explain")
    total = time.perf_counter() - t0
    client.set_tag(run_id, "plexus.explain_seconds", f"{total:.3f}")
    return {"rows": float(attr.rows), "compute_s": compute_s, "total_s": total}


def chunks(batch: dict[str, Tensor], size: int) -> Iterator[dict[str, Tensor]]:
    n = len(next(iter(batch.values())))
    for start in range(0, n, size):
        yield {k: v[start:start + size] for k, v in batch.items()}


# ----------------------------------------------------------------------------- explaining raw rows of a run
@dataclass
class LoadedRun:
    """A run's logged model with what it needs to read raw rows."""

    run_id: str
    model_name: str
    model: torch.nn.Module
    encoder: Any
    outputs: list[str]


def load_run(run_id: str, tracking_uri: str | None = None) -> LoadedRun:
    """The logged scorer (model + fitted encoder) of run ``run_id``; one-line errors for unknown runs."""
    import mlflow
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from plexus.platform.errors import ConfigError
    from plexus.platform.tracking import ensure_reachable, mask_url, resolve_tracking_uri, using_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    ensure_reachable(uri)
    try:
        run = MlflowClient(uri).get_run(run_id)
    except MlflowException:
        raise ConfigError(f"run '{run_id}' not found in the tracking store {mask_url(uri)}") from None
    name = run.data.tags.get("plexus.model", "?")
    scorer_uri = run.data.tags.get("plexus.scorer_uri", "")
    if not scorer_uri:
        raise ConfigError(f"run '{run_id}' ({name}) has no logged scorer to explain: it is not a tabular run, "
                          "or it was trained with tracking.log_model=false")
    try:
        with using_tracking_uri(uri):
            scorer = mlflow.pyfunc.load_model(scorer_uri).unwrap_python_model()
    except MlflowException as exc:
        raise ConfigError(f"run '{run_id}': its scorer cannot be loaded ({str(exc).splitlines()[0]})") from None
    return LoadedRun(run_id, name, scorer.model, scorer.encoder, list(scorer.outputs))


def read_rows(path: str | Path, encoder: Any) -> tuple[Any, dict[str, Tensor]]:
    """Raw rows of ``path`` (CSV/TSV with a header, or Parquet) -> (``RawTable``, encoded batch).

    Columns must be the dataset's original ones: every feature column present, nothing the
    dataset does not know (labels, group and timestamp columns are allowed and ignored).
    """
    from plexus.platform.data.tabular.readers import detect_format, read_parquet, read_text_table
    from plexus.platform.errors import DataError

    fmt = detect_format(path)
    if fmt == "libfm":
        raise DataError("explain reads CSV, TSV or Parquet rows with the dataset's column names", file=str(path))
    table = read_parquet(path) if fmt == "parquet" else read_text_table(path, sep="\t" if fmt == "tsv" else ",")
    schema = encoder.schema
    header_row = 1 if fmt != "parquet" else None
    known = set(schema.required_columns())
    have = [str(c) for c in table.df.columns]
    for f in schema.fields:
        if f.column not in have:
            raise DataError(f"missing column '{f.column}'; the run's dataset needs {[g.column for g in schema.fields]}",
                            file=str(path), row=header_row, field=f.name)
    unknown = [c for c in have if c not in known]
    if unknown:
        raise DataError(f"unknown column '{unknown[0]}': not a column of the run's dataset "
                        f"(it has {sorted(known)})", file=str(path), row=header_row, field=unknown[0])
    feats = encoder._features(table)  # DataError names file, row and field
    return table, {k: torch.from_numpy(v) for k, v in feats.items()}


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


class _Values:
    """Raw values of the inputs a term names: encoder vocabularies for ids, the file's text for numbers."""

    def __init__(self, encoder: Any, table: Any, batch: dict[str, Tensor], width: int = 10**6) -> None:
        self.fields = {f.name: f for f in encoder.schema.fields}
        self.decode = make_decoder(encoder)
        self.table, self.batch, self.width = table, batch, width

    def __call__(self, row: int, name: str, pos: int | None = None) -> str:
        f = self.fields[name]
        raw = self.table.df[f.column].iloc[row]
        if f.type == "numeric":
            return _shorten(str(raw).strip(), self.width)
        ids = self.batch[name][row]
        if f.type == "categorical":
            val = self.decode(name, int(ids))
            return _shorten(f"{str(raw).strip()} (unseen)" if val == "<unseen>" else val, self.width)
        if pos is not None:
            return _shorten(self.decode(name, int(ids[pos])), self.width)
        toks = [self.decode(name, int(i)) for i in ids.tolist() if int(i) != 0]
        return _shorten("[" + " ".join(toks) + "]", self.width)


def explain_rows(loaded: LoadedRun, path: str | Path, top_k: int = 5, batch_size: int = 1024) -> list[dict[str, Any]]:
    """Predictions and explanations of every row of ``path`` (JSON-able, raw values)."""
    from plexus.platform.errors import ConfigError

    model = loaded.model
    if not can_explain(model):
        raise ConfigError(f"model '{loaded.model_name}' (run {loaded.run_id}) has nothing to explain: it computes "
                          "no attention or gate weights (explainable: armnet, armnet_plus, autoint, autoint_plus, "
                          "din, dtrn)")
    if top_k < 1:
        raise ConfigError(f"--top must be >= 1, got {top_k}")
    table, batch = read_rows(path, loaded.encoder)
    values = _Values(loaded.encoder, table, batch)
    model.eval()
    out: list[dict[str, Any]] = []
    offset = 0
    for part in chunks(batch, batch_size):
        with torch.no_grad():
            pred = model(part)
            expl = model.explain(part, top_k)
        for i, ex in enumerate(expl):
            r = offset + i
            probs = {("probability" if k == "logit" else k): float(torch.sigmoid(pred[k][i].float()))
                     for k in loaded.outputs}
            terms = []
            for t in ex.terms:
                pos = t.positions or (None,) * len(t.fields)
                terms.append({"fields": list(t.fields), "values": [values(r, f, p) for f, p in zip(t.fields, pos)],
                              "positions": list(t.positions) if t.positions else None, "weight": t.weight,
                              "field_weights": list(t.field_weights) if t.field_weights else None,
                              "group": t.group, "note": t.note})
            out.append({"file": table.where(r)[0], "row": table.where(r)[1], "prediction": probs, "kind": ex.kind,
                        "title": ex.title, "subject": {f: values(r, f) for f in ex.subject}, "terms": terms,
                        "field_scores": ex.field_scores})
        offset += len(expl)
    return out
