"""``plexus datasets list|show|import``."""

from __future__ import annotations

from pathlib import Path

import typer
from plexus.platform.catalog import get_catalog
from plexus.platform.cli._output import console, emit_json, table

app = typer.Typer(help="Browse and import datasets.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Machine-readable output on stdout.")


@app.command("list")
def list_datasets(as_json: bool = JSON) -> None:
    """List every dataset: name, task kinds, bundled or local, status."""
    rows = [e.describe() for e in get_catalog().datasets().values()]
    if as_json:
        emit_json(rows)
        return
    table("Datasets", ["name", "tasks", "size", "bundled", "source", "status", "summary"],
          [[r["name"], ",".join(r.get("tasks", [])), r.get("size", ""), r.get("bundled", ""), r["source"], r["status"],
            r.get("summary") or r.get("error", "")] for r in rows])


@app.command("show")
def show_dataset(
    name: str = typer.Argument(..., help="Dataset name."),
    task: str | None = typer.Option(None, "--task", help="Task kind to load it for."),
    path: Path | None = typer.Option(None, "--path", help="Local copy of the raw files."),
    as_json: bool = JSON,
) -> None:
    """Statistics of one dataset (rows, fields, vocabularies, class balance; nodes, edges, snapshots)."""
    from plexus.platform.data.service import load_dataset

    entry = get_catalog().dataset(name)
    ds = load_dataset(name, task=task, path=str(path) if path else None)
    d = entry.describe()
    d["stats"] = ds.stats()
    d["fingerprint"] = ds.fingerprint
    d["description"] = ds.description
    if as_json:
        emit_json(d)
        return
    console.print(f"[bold]{name}[/bold] ({', '.join(d['tasks'])}) — {d['summary']}")
    if ds.description:
        console.print(ds.description, markup=False)
    table("Statistics", ["key", "value"], [[k, v] for k, v in d["stats"].items()])


@app.command("import")
def import_dataset(
    path: Path = typer.Argument(..., help="CSV/TSV/Parquet/libFM file, or an edge list."),
    name: str = typer.Option(..., "--name", help="Name to use the dataset under."),
    schema: Path | None = typer.Option(None, "--schema", help="YAML schema (tabular data)."),
    kind: str = typer.Option("tabular", "--kind", help="tabular | graph | temporal"),
    node_file: Path | None = typer.Option(None, "--node-file", help="Graph: node table (node[,label][,features])."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing dataset of that name."),
    as_json: bool = JSON,
) -> None:
    """Import a user dataset; it is then usable by name everywhere."""
    from plexus.platform.data.user import import_dataset as do_import
    from plexus.platform.errors import ConfigError

    if kind not in ("tabular", "graph", "temporal"):
        raise ConfigError(f"--kind must be tabular, graph or temporal, got '{kind}'")
    if kind == "tabular" and schema is None:
        raise ConfigError("--schema is required for tabular data")
    info = do_import(path, name=name, schema=schema, kind=kind, overwrite=overwrite, node_file=node_file)
    if as_json:
        emit_json(info)
    else:
        console.print(f"imported '{name}' ({kind}) from {path}")
