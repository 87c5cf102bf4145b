"""``plexus models list|show``."""

from __future__ import annotations

import typer

from plexus.cli._output import console, emit_json, table
from plexus.platform.catalog import get_catalog

app = typer.Typer(help="Browse the model catalog.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Machine-readable output on stdout.")


@app.command("list")
def list_models(as_json: bool = JSON) -> None:
    """List every model plugin: name, task, source, status."""
    rows = [e.describe() for e in get_catalog().models().values()]
    if as_json:
        emit_json(rows)
        return
    table("Models", ["name", "task", "source", "status", "summary"],
          [[r["name"], ",".join(r.get("tasks", []) or []), r["source"], r["status"],
            r.get("summary") or r.get("error", "")] for r in rows])


@app.command("show")
def show_model(name: str = typer.Argument(..., help="Model name."), as_json: bool = JSON) -> None:
    """Hyperparameters (types, defaults, help), search space and paper of one model."""
    entry = get_catalog().model(name)
    d = entry.describe()
    d["hyperparameters"] = entry.schema.to_list()
    d["search_space"] = entry.search_space_source()
    if as_json:
        emit_json(d)
        return
    console.print(f"[bold]{d['name']}[/bold] ({', '.join(d['tasks'])}; {d['source']}) — {d['summary']}")
    if d["paper"]:
        console.print(f"paper: {d['paper']} {d['url']}")
    table("Hyperparameters", ["name", "type", "default", "help"],
          [[h["name"], h["type"], "(required)" if h["required"] else h["default"], h["help"]]
           for h in d["hyperparameters"]])
    if d["search_space"]:
        console.print("[bold]Search space[/bold]")
        console.print(d["search_space"], markup=False)
