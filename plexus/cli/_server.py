"""``plexus server`` (a team's tracking server and Optuna storage on one host) and ``plexus runs gc``."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import typer

from plexus.cli._output import console, emit_json, say, table
from plexus.cli._ui import interrupt_on_signals

__all__ = ["runs_app", "server"]

runs_app = typer.Typer(help="Runs of the tracking store: gc marks dead RUNNING runs KILLED.", no_args_is_help=True)



def _err(msg: str) -> None:
    sys.stderr.write(msg.rstrip() + "\n")
    sys.stderr.flush()


def server(
    port: int = typer.Option(5000, "--port", "-p", help="Port of the tracking server."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0: every interface; "
                                                         "beyond loopback, authentication is on)."),
    postgres: str | None = typer.Option(None, "--postgres", envvar="PLEXUS_SERVER_POSTGRES", show_envvar=False,
                                        help="PostgreSQL server, postgresql://USER@HOST:PORT (password in "
                                             "PGPASSWORD or --credentials); default: SQLite in --home."),
    home: Path = typer.Option(Path("plexus-server"), "--home", help="The server's folder on this host: "  # noqa: B008
                              "artifacts, auth settings, logs."),
    credentials: Path | None = typer.Option(None, "--credentials", help="File (mode 600) of KEY=VALUE lines: "  # noqa: B008
                                            "PLEXUS_SERVER_USER, PLEXUS_SERVER_PASSWORD, PGPASSWORD."),
    auth: bool | None = typer.Option(None, "--auth/--no-auth", help="Basic authentication (default: on unless "
                                     "listening on loopback only)."),
    public_host: str | None = typer.Option(None, "--public-host", help="Host name workers use in the printed "
                                           "URLs (default: --host, or this host's name for 0.0.0.0)."),
    db_prefix: str = typer.Option("plexus", "--db-prefix", help="Databases <prefix>_mlflow, <prefix>_optuna, "
                                  "<prefix>_mlflow_auth."),
    workers: int = typer.Option(2, "--workers", help="Request-handling processes of the tracking server."),
    allowed_hosts: str | None = typer.Option(None, "--allowed-hosts", help="Host headers the server accepts "
                                             "(MLflow's default: localhost and private addresses)."),
    gc_every: float = typer.Option(60.0, "--gc-every", help="Seconds between sweeps that mark dead runs KILLED "
                                   "(0: none)."),
    as_json: bool = typer.Option(False, "--json", help="Print the URLs as JSON before blocking."),
) -> None:
    """Start a team's shared services on this host: an MLflow tracking server that stores runs in PostgreSQL
    and serves their artifacts itself, and the Optuna storage on the same PostgreSQL. Workers on other hosts
    need only the two printed URLs (and the password, in their environment). Ctrl-C or SIGTERM stops it.
    """
    from plexus.platform.team import (
        load_credentials,
        plan_server,
        prepare_stores,
        start_tracking_server,
        stop_group,
    )
    from plexus.platform.tracking import mask_text, quiet_mlflow_logs

    quiet_mlflow_logs()
    creds = load_credentials(credentials)
    plan = plan_server(host=host, port=port, home=home, credentials=creds, postgres=postgres, db_prefix=db_prefix,
                       auth=auth, public_host=public_host)
    prepare_stores(plan)
    interrupt_on_signals()
    proc = None
    try:
        proc = start_tracking_server(plan, workers=workers, allowed_hosts=allowed_hosts)
        info = plan.summary()
        if as_json:
            emit_json(info)
        else:
            say(f"tracking server: {info['tracking_uri']}" + (f" (user {info['user']})" if plan.auth else
                                                             " (no authentication)"))
            say(f"Optuna storage: {info['storage']}")
            say(f"artifacts: {info['artifacts']}")
            if plan.auth:
                say("workers: export MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, and PLEXUS_STORAGE with "
                    "the storage's password")
            console.print("Ctrl-C stops the server.")
        sys.stdout.flush()
        stopping = _stop_on_signals()  # serving: a signal ends the loop, never interrupts a sweep mid-query
        next_gc = time.monotonic() + gc_every if gc_every > 0 else float("inf")
        while proc.poll() is None and not stopping.is_set():
            stopping.wait(0.5)
            if time.monotonic() >= next_gc and not stopping.is_set():
                _sweep(plan, mask_text)
                next_gc = time.monotonic() + gc_every
        if stopping.is_set():
            return
        _err(f"error: mlflow server stopped (exit code {proc.returncode}); see {plan.log}")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        if proc is not None:
            stop_group(proc)


def _stop_on_signals() -> threading.Event:
    """SIGTERM / SIGHUP / SIGINT set the returned event. While starting, the server stops on them by
    KeyboardInterrupt; once it serves, an exception raised inside a sweep's database or HTTP call could leave a
    library lock held, and the interpreter's exit would then wait on it forever."""
    stopping = threading.Event()

    def _set(signum: int, frame: Any) -> None:
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        try:
            signal.signal(sig, _set)
        except (ValueError, OSError):  # not the main thread
            pass
    return stopping


def _sweep(plan: Any, mask_text: Any) -> None:
    """One gc pass on the server's own stores; a failure is one line on stderr, the server keeps running."""
    from plexus.platform.team import gc_runs

    try:
        done = gc_runs(plan.with_password(plan.tracking_store), storage_url=plan.with_password(plan.storage))
    except Exception as exc:  # noqa: BLE001 - the sweep is best-effort; the server must stay up
        _err(f"warning: runs gc failed: {mask_text(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__}")
        return
    for a in done:
        _err(f"runs gc: run {a.run_id} ({a.name}) marked KILLED: {a.reason}")


@runs_app.command("gc")
def runs_gc(
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    storage: str | None = typer.Option(None, "--storage", envvar="PLEXUS_STORAGE", show_envvar=False,
                                       help="Optuna storage of the studies (their trials' heartbeats)."),
    older_than: float | None = typer.Option(None, "--older-than", help="Also mark runs of other hosts that "
                                            "logged nothing for this many hours."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs, change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """Mark KILLED (tag plexus.failure_reason) the RUNNING runs whose process is gone; live runs are untouched.

    A run is dead when its process on this host is gone, when its search trial ended or its worker's heartbeat
    stopped, or (with --older-than) when nothing was logged to it for that long.
    """
    from plexus.platform.errors import ConfigError
    from plexus.platform.team import gc_runs
    from plexus.platform.tracking import ensure_reachable, resolve_tracking_uri

    if older_than is not None and older_than <= 0:
        raise ConfigError(f"--older-than {older_than}: expected a positive number of hours")
    uri = resolve_tracking_uri(tracking_uri)
    ensure_reachable(uri)
    done = gc_runs(uri, storage_url=storage, older_than=None if older_than is None else older_than * 3600,
                   dry_run=dry_run)
    if as_json:
        emit_json({"killed": [a.to_dict() for a in done], "dry_run": dry_run})
        return
    if done:
        table(f"{'would mark' if dry_run else 'marked'} KILLED", ["run", "name", "reason"],
              [[a.run_id, a.name, a.reason] for a in done], wrap=["reason"])
    else:
        say("no dead RUNNING runs")
