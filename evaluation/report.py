"""A self-contained HTML report of a :class:`~plexus.evaluation.compare.Comparison`.

Charts are matplotlib PNGs embedded as base64 ``data:`` URIs, the style sheet is inline:
the file opens offline, can be mailed, and is logged as an artifact of the study's parent run.
"""

from __future__ import annotations

import base64
import html
import io
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from plexus.evaluation.compare import Comparison, param_importances, search_space_of

__all__ = ["log_report", "render_html", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}tr.best td{background:#eaf6ea}.muted{color:#777}
img{max-width:100%}
"""


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}g}" if abs(v) >= 1e4 or (v != 0 and abs(v) < 1e-3) else f"{v:.{digits}f}"
    return str(v)


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves_png(cmp: Comparison) -> str | None:
    """The ranking metric (and the training loss) per epoch, one line per run, on one chart."""
    runs = [r for r in cmp.runs if r.history or r.train_loss]
    if not runs:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for r in runs:
        label = f"#{r.rank} {r.name}" if r.rank else r.name
        if r.history:
            axes[0].plot([s for s, _ in r.history], [v for _, v in r.history], "o-", ms=3, label=label)
        if r.train_loss:
            axes[1].plot([s for s, _ in r.train_loss], [v for _, v in r.train_loss], "o-", ms=3, label=label)
    axes[0].set_title(f"{cmp.metric} ({'lower' if cmp.direction == 'min' else 'higher'} is better)")
    axes[1].set_title("train_loss")
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if len(runs) <= 12:
        axes[0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def parallel_png(cmp: Comparison) -> str | None:
    """Parallel coordinates of the varying parameters and the metric, one line per run coloured by the metric."""
    import optuna

    dists = search_space_of(cmp)
    runs = [r for r in cmp.runs if r.best is not None]
    if not dists or len(runs) < 2:
        return None
    plt = _pyplot()
    import matplotlib as mpl

    axes_names = list(dists) + [cmp.metric]
    cols: list[list[float]] = []
    ticks: list[tuple[list[float], list[str]]] = []
    for name in axes_names:
        if name == cmp.metric:
            raw = [float(r.best) for r in runs]  # type: ignore[arg-type]
            d = None
        else:
            d = dists[name]
            raw_s = [r.params.get(name) for r in runs]
            if isinstance(d, optuna.distributions.CategoricalDistribution):
                choices = list(d.choices)
                n = max(len(choices) - 1, 1)
                cols.append([choices.index(v) / n if v in choices else float("nan") for v in raw_s])
                ticks.append(([i / n for i in range(len(choices))], [str(c) for c in choices]))
                continue
            raw = [float(v) if v is not None else float("nan") for v in raw_s]
        log = bool(getattr(d, "log", False))
        tr = [math.log10(v) if log and v > 0 else v for v in raw]
        fin = [v for v in tr if math.isfinite(v)]
        lo, hi = (min(fin), max(fin)) if fin else (0.0, 1.0)
        span = (hi - lo) or 1.0
        cols.append([(v - lo) / span for v in tr])
        lab: list[Any] = [10 ** lo, 10 ** hi] if log else [lo, hi]
        if isinstance(d, optuna.distributions.IntDistribution):
            lab = [round(x) for x in lab]
        ticks.append(([0.0, 1.0], [_fmt(lab[0], 3), _fmt(lab[1], 3)]))
    scores = [float(r.best) for r in runs]  # type: ignore[arg-type]
    smin, smax = min(scores), max(scores)
    cmap = mpl.colormaps["viridis" if cmp.direction == "max" else "viridis_r"]
    # no layout engine: with many axes both tight_layout and constrained layout give up with a UserWarning on the
    # user's terminal; the PNG is saved with bbox_inches="tight", which keeps every label in the image
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(axes_names)), 4.2))
    xs = list(range(len(axes_names)))
    for i, r in enumerate(runs):
        c = cmap((scores[i] - smin) / ((smax - smin) or 1.0))
        ax.plot(xs, [col[i] for col in cols], "-o", color=c, alpha=0.85, lw=1.6, ms=3)
    for x, (pos, labels) in zip(xs, ticks):
        ax.axvline(x, color="#555", lw=0.8)
        for p, t in zip(pos, labels):
            ax.text(x + 0.03, p, t, fontsize=7, va="center", ha="left", color="#333")
    ax.set_xticks(xs)
    ax.set_xticklabels(axes_names, rotation=15, fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.06, 1.06)
    ax.set_title(f"{len(runs)} trials, coloured by {cmp.metric}")
    sm = mpl.cm.ScalarMappable(cmap=cmap, norm=mpl.colors.Normalize(smin, smax))
    fig.colorbar(sm, ax=ax, label=cmp.metric, pad=0.08)
    return _png(fig)


def importances_png(imp: dict[str, float], metric: str) -> str | None:
    if not imp:
        return None
    plt = _pyplot()
    names = list(imp)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))
    ax.barh(names, [imp[n] for n in names], color="tab:blue")
    ax.set_xlabel(f"fANOVA importance for {metric}")
    ax.set_xlim(0, 1)
    fig.tight_layout()
    return _png(fig)


def render_html(cmp: Comparison, importances: dict[str, float] | None = None) -> str:
    """The report as one HTML string (no external resources)."""
    imp = param_importances(cmp) if importances is None else importances
    e = html.escape
    title = f"Study {cmp.study}" if cmp.study else f"Experiment {cmp.experiment}"
    head = ["#", "run", "state"] + cmp.varying + [f"{cmp.metric} final", f"{cmp.metric} best", "duration (s)"]
    rows = []
    for r in cmp.runs:
        cls = ' class="best"' if r.rank == 1 else ""
        cells = [f"<td>{r.rank or ''}</td>", f'<td class="l">{e(r.name)}<br><span class="muted">{r.run_id}</span></td>',
                 f'<td class="l">{e(r.state)}</td>']
        cells += [f'<td class="l">{e(str(r.params.get(k, "")))}</td>' for k in cmp.varying]
        cells += [f"<td>{_fmt(r.final)}</td>", f"<td><b>{_fmt(r.best)}</b></td>", f"<td>{_fmt(r.duration_s, 3)}</td>"]
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    ths = "".join(f'<th class="l">{e(h)}</th>' if 1 <= i < 3 + len(cmp.varying) else f"<th>{e(h)}</th>"
                  for i, h in enumerate(head))
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>plexus compare: {e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="muted">experiment {e(cmp.experiment)} (id {e(cmp.experiment_id)}), store {e(cmp.tracking_uri)}'
        + (f", parent run {e(cmp.parent_run_id)}" if cmp.parent_run_id else "")
        + f"; {len(cmp.runs)} runs ranked by {e(cmp.metric)} ({'lower' if cmp.direction == 'min' else 'higher'}"
        f" is better); generated {time.strftime('%Y-%m-%d %H:%M:%S')}</p>",
        "<h2>Runs</h2>", f"<table><tr>{ths}</tr>{''.join(rows)}</table>",
    ]
    for heading, img, empty in (
        ("Metric curves", curves_png(cmp), "no per-epoch history logged"),
        ("Parallel coordinates", parallel_png(cmp), "needs two runs with the metric and a varying parameter"),
        ("Parameter importances", importances_png(imp, cmp.metric), ("needs two runs with the metric and a "
                                                                   "varying parameter")),
    ):
        parts.append(f"<h2>{heading}</h2>")
        parts.append(f'<img alt="{e(heading)}" src="{img}">' if img else f'<p class="muted">{e(empty)}</p>')
    if imp:
        parts.append("<table><tr><th class='l'>parameter</th><th>importance</th></tr>"
                     + "".join(f"<tr><td class='l'>{e(k)}</td><td>{v:.3f}</td></tr>" for k, v in imp.items())
                     + "</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(cmp: Comparison, path: str | Path, importances: dict[str, float] | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(cmp, importances), encoding="utf-8")
    return path


def log_report(client: Any, run_id: str, path: Path, name: str = "compare.html") -> str:
    """Log the report as ``reports/<name>`` of ``run_id``; returns the artifact path."""
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / name
        dst.write_bytes(Path(path).read_bytes())
        client.log_artifact(run_id, str(dst), artifact_path="reports")
    return f"reports/{name}"
