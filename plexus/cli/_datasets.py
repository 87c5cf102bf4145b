"""``plexus datasets list|show|fetch|import``."""

from __future__ import annotations

from pathlib import Path

import typer

from plexus.cli._output import console, emit_json, err_console, say, table
from plexus.platform.catalog import get_catalog

app = typer.Typer(help="Browse, fetch and import datasets.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Machine-readable output on stdout.")


def _say(line: str) -> None:
    say(line)


def _local(row: dict) -> str:
    from plexus.platform.data.sources import local_status

    if row.get("status") != "ok":
        return ""
    if row.get("bundled"):
        return "bundled"
    return local_status(row["name"]) or ("imported" if row.get("source") == "user" else "")


@app.command("list")
def list_datasets(as_json: bool = JSON) -> None:
    """List every dataset: name, task kinds, size, whether its files are here, status."""
    rows = [e.describe() for e in get_catalog().datasets().values()]
    for r in rows:
        r["local"] = _local(r)
    if as_json:
        emit_json(rows)
        return
    table("Datasets", ["name", "tasks", "size", "local", "source", "status", "summary"],
          [[r["name"], ",".join(r.get("tasks", [])), r.get("size", ""), r["local"], r["source"], r["status"],
            r.get("summary") or r.get("error", "")] for r in rows])


@app.command("fetch")
def fetch_datasets(
    names: list[str] = typer.Argument(None, help="Dataset names (see 'plexus datasets list')."),
    all_: bool = typer.Option(False, "--all", help="Every built-in dataset with raw files to download."),
    offline: bool = typer.Option(False, "--offline", help="Never touch the network (a local mirror is used)."),
    as_json: bool = JSON,
) -> None:
    """Download and verify (size, sha256) datasets' raw files into $PLEXUS_DATA/raw.

    PLEXUS_DATA_MIRROR (an http(s):// or file:// base, or a folder) replaces the public hosts.
    """
    from plexus.platform.data.download import fetch
    from plexus.platform.data.sources import SOURCES
    from plexus.platform.errors import ConfigError, DataError, PlexusError

    catalog = get_catalog().datasets()
    if all_:
        names = sorted(n for n in SOURCES if n in catalog and not catalog[n].info.bundled)
    if not names:
        raise ConfigError("name the datasets to fetch, or pass --all")
    unknown = [n for n in names if n not in catalog]
    if unknown:
        get_catalog().dataset(unknown[0])  # raises the catalog's did-you-mean error
    results, failed = [], []
    for name in names:
        src = SOURCES.get(name)
        if src is None:
            info = catalog[name].info
            results.append({"name": name, "status": "bundled" if info and info.bundled else "no raw files"})
            continue
        if src.terms and not as_json:
            _say(f"{name}: by fetching you accept its terms: {src.terms}")
        try:
            rep = fetch(src, offline=offline or None, echo=None if as_json else _say)
        except PlexusError as exc:
            failed.append(name)
            results.append({"name": name, "status": "failed", "error": str(exc)})
            if not as_json:
                err_console.print(f"{name}: failed: {exc}", markup=False, soft_wrap=True)
            continue
        results.append({"name": name, "status": "fetched" if rep.downloaded else "present", "root": str(rep.root),
                        "downloaded": rep.downloaded, "bytes": rep.bytes})
        if not as_json:
            what = f"downloaded {len(rep.downloaded)} file(s), {rep.bytes / 2**20:.1f} MB" if rep.downloaded \
                else "already present and verified"
            _say(f"{name}: {what} ({rep.root})")
    if as_json:
        emit_json(results)
    if failed:
        raise DataError(f"{len(failed)} of {len(names)} dataset(s) could not be fetched: {', '.join(failed)}"
                        + ("" if as_json else " (reasons above)"))


def _source_dict(name: str) -> dict | None:
    from plexus.platform.data.download import raw_dir
    from plexus.platform.data.sources import SOURCES, local_status

    src = SOURCES.get(name)
    if src is None:
        return None
    return {"folder": str(raw_dir(src)), "homepage": src.homepage, "license": src.license, "terms": src.terms,
            "local": local_status(name), "files": [{"name": f.name, "url": f.url, "size": f.size,
                                                    "sha256": f.sha256} for f in src.files]}


def _source_lines(name: str) -> list[str]:
    d = _source_dict(name)
    if d is None:
        return []
    out = [f"raw files: {d['folder']} ({d['local']}); home: {d['homepage']}; licence: {d['license']}"]
    if d["terms"]:
        out.append(f"terms (accepted by fetching): {d['terms']}")
    return out


def _options(entry: object) -> list[dict]:
    """The loader's keyword parameters (types, defaults, help) but ``task`` (chosen by --task)."""
    from plexus.platform.catalog import schema_from_callable

    return schema_from_callable(entry.obj, skip=("task",)).to_list()


def _print_options(name: str, options: list[dict]) -> None:
    if not options:
        return
    table("Options", ["name", "type", "default", "help"],
          [[o["name"], o["type"], "(required)" if o["required"] else o["default"], o["help"]] for o in options])
    _say(f"set with --set dataset_options.NAME=VALUE, or under 'dataset_options:' in an experiment file "
         f"(e.g. --set dataset_options.{options[-1]['name']}=...)")


def _print_stats(stats: dict) -> None:
    """Scalars and small mappings as key/value rows; a list of records (the fields) as a table of its own."""
    records = {k: v for k, v in stats.items()
               if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)}
    table("Statistics", ["key", "value"], [[k, v] for k, v in stats.items() if k not in records])
    for key, items in records.items():
        cols = list(dict.fromkeys(c for i in items for c in i))
        table(f"{key.replace('_', ' ').capitalize()} ({len(items)})", cols,
              [[i.get(c, "") for c in cols] for i in items])


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
    d["raw"] = _source_dict(name)
    d["options"] = _options(entry)
    if as_json:
        emit_json(d)
        return
    say(f"{name} ({', '.join(d['tasks'])}) — {d['summary']}", style="bold")
    for line in _source_lines(name):
        _say(line)
    if ds.description:
        say(ds.description)
    _print_stats(d["stats"])
    _print_options(name, d["options"])


@app.command("import")
def import_dataset(
    path: Path | None = typer.Argument(None, help="CSV/TSV/Parquet/libFM file, or an edge list; omitted when "
                                     "the schema names train/val/test files (split: {method: files})."),
    name: str = typer.Option(..., "--name", help="Name to use the dataset under."),
    schema: Path | None = typer.Option(None, "--schema", help="YAML schema (tabular data)."),
    kind: str = typer.Option("tabular", "--kind", help="tabular | graph | temporal"),
    node_file: Path | None = typer.Option(None, "--node-file", help="Graph: node table (node[,label][,split]"
                                          "[,numeric features]); with --graph-file: graph,node[,features]."),
    features: Path | None = typer.Option(None, "--features", help="Graph: node features of the node table's rows: "
                                         ".npy (dense), .npz (scipy.sparse) or .csv of node,feature_index,value."),
    graph_file: Path | None = typer.Option(None, "--graph-file", help="Several graphs: graph,label[,split] table; "
                                           "the edge file then has a graph column."),
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
    info = do_import(path, name=name, schema=schema, kind=kind, overwrite=overwrite, node_file=node_file,
                     features=features, graph_file=graph_file)
    if as_json:
        emit_json(info)
    else:
        console.print(f"imported '{name}' ({kind}) from {path or info['path']}")
        if kind != "tabular":  # what a graph import supports, and how it is split
            st = info.get("stats") or {}
            _say(f"tasks: {', '.join(info.get('tasks', []))}" + "".join(
                f"; {k.replace('_', ' ')}: {st[k]}" for k in ("split_sizes", "split_method", "class_names") if k in st))
