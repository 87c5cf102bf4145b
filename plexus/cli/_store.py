"""``plexus store check | upgrade | repair``: the tracking store's schema, upgraded with a copy, repaired."""

from __future__ import annotations

import sys

import typer

from plexus.cli._output import console, emit_json, table

app = typer.Typer(help="The MLflow tracking store: check its schema, upgrade it (with a copy), repair it.",
                  no_args_is_help=True)

_URI_HELP = "Tracking URI (default $MLFLOW_TRACKING_URI, else sqlite:///./mlruns/mlflow.db)."


def _uri(uri: str | None) -> str:
    from plexus.platform.tracking import resolve_tracking_uri

    return resolve_tracking_uri(uri)


def _say(as_json: bool):
    def echo(msg: str) -> None:
        if not as_json:
            console.print(msg, markup=False, highlight=False, soft_wrap=True)
    return echo


def _show(state, as_json: bool) -> None:
    if as_json:
        emit_json(state.to_dict())
        return
    d = state.to_dict()
    rows = [["store", d["uri"]], ["state", d["state"]], ["schema revision", d["revision"] or "-"],
            ["MLflow needs", d["head"] or "-"]]
    if d["detail"]:
        rows.append(["detail", d["detail"]])
    rows += [["copy", b] for b in d["backups"]]
    table("tracking store", ["", ""], rows)


@app.command("check")
def check(uri: str | None = typer.Argument(None, help=_URI_HELP),
          as_json: bool = typer.Option(False, "--json", help="Print the state as JSON.")) -> None:
    """Print the store (password masked), its schema revision and state; changes nothing.

    States: new, current, out-of-date (run 'plexus store upgrade'), interrupted-upgrade or half-migrated
    (run 'plexus store repair'), newer (upgrade mlflow), unreadable, not-checked (a server or folder).
    Exit code 0 when the store can be used as it is (new, current, not-checked), 1 otherwise.
    """
    from plexus.platform.tracking import inspect_store

    state = inspect_store(_uri(uri))
    _show(state, as_json)
    if state.state not in ("new", "current", "not-checked"):
        sys.exit(1)


@app.command("upgrade")
def upgrade(uri: str | None = typer.Argument(None, help=_URI_HELP),
            as_json: bool = typer.Option(False, "--json", help="Print the new state as JSON.")) -> None:
    """Upgrade the store's schema to the installed MLflow's; a SQLite file is copied to <db>.bak-<revision> first.

    Stop the processes that use the store first. If the upgrade fails the copy is restored; if this
    process is killed, the next open of the store (or 'plexus store repair') restores it.
    """
    from plexus.platform.tracking import upgrade_store

    state = upgrade_store(_uri(uri), _say(as_json))
    if as_json:
        emit_json(state.to_dict())


@app.command("repair")
def repair(uri: str | None = typer.Argument(None, help=_URI_HELP),
           as_json: bool = typer.Option(False, "--json", help="Print the new state as JSON.")) -> None:
    """Undo an interrupted upgrade, or restore a half-migrated SQLite store from its copy.

    The broken file is moved aside to <db>.broken-<time>, never deleted; without a copy, says what to do.
    """
    from plexus.platform.tracking import repair_store

    state = repair_store(_uri(uri), _say(as_json))
    if as_json:
        emit_json(state.to_dict())
