"""Entry point: the ``plexus`` sub-commands, declared in one table. Each command parses, calls one service,
prints; the services are imported inside the commands so that ``plexus --help`` and a mistyped flag do not
pay for importing torch and MLflow (several seconds)."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click
import typer

from plexus.cli import (
    _bench,
    _compare,
    _datasets,
    _explain,
    _models,
    _nas,
    _search,
    _server,
    _store,
    _train,
    _ui,
)
from plexus.platform.errors import PlexusError

# Typer >= 0.29 raises its own vendored copies of click's exceptions (typer._click); catch both families.
try:
    from typer._click import exceptions as _tclick
except ImportError:  # pragma: no cover - older typer uses click itself
    _tclick = click.exceptions


def _both(name: str) -> tuple[type, ...]:
    return tuple({getattr(click.exceptions, name), getattr(_tclick, name, getattr(click.exceptions, name))})


_EXIT = _both("Exit") + (typer.Exit,)
_ABORT = _both("Abort") + (typer.Abort,)
_CLICK_ERROR = _both("ClickException")
_NO_ARGS = _both("NoArgsIsHelpError")

__all__ = ["COMMANDS", "app", "main"]

app = typer.Typer(
    name="plexus",
    help="Plexus: graph and recommender ML platform (catalog, training, tracking, search).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# name -> a command function or a group of sub-commands; `plexus --help` lists them in this order
COMMANDS: dict[str, Callable[..., Any] | typer.Typer] = {
    "models": _models.app,
    "datasets": _datasets.app,
    "train": _train.train,
    "demo": _train.demo,
    "search": _search.search,
    "worker": _search.worker,
    "nas": _nas.app,
    "explain": _explain.explain,
    "bench": _bench.app,
    "store": _store.app,
    "ui": _ui.ui,
    "compare": _compare.compare,
    "server": _server.server,
    "runs": _server.runs_app,
}
for _name, _target in COMMANDS.items():
    if isinstance(_target, typer.Typer):
        app.add_typer(_target, name=_name)
    else:
        app.command(_name)(_target)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    if debug:
        os.environ["PLEXUS_DEBUG"] = "1"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors print one line on stderr and exit with code 2."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # stderr is for our one-line errors
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # no run links on stdout (--json)
    warnings.filterwarnings("ignore", module=r"mlflow(\..*)?$")
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("PLEXUS_DEBUG"))
    try:
        # without standalone mode click returns (not raises) the code of typer.Exit and of a signal's Abort
        code = app(args=args, prog_name="plexus", standalone_mode=False)
    except PlexusError as exc:
        if debug:
            raise
        _fail(f"error: {exc}", exc.exit_code)
    except _EXIT as exc:
        sys.exit(exc.exit_code)
    except _ABORT:
        _fail("error: aborted", 130)
    except _NO_ARGS as exc:  # a bare group ('plexus', 'plexus models'): its help on stdout
        sys.stdout.write(exc.format_message().rstrip() + "\n")
        sys.exit(2)
    except _CLICK_ERROR as exc:
        msg = exc.format_message().replace("\n", " ")
        ctx = getattr(exc, "ctx", None)
        cmd = f" (see 'plexus {ctx.command_path.split(' ', 1)[1]} --help')" if ctx and " " in ctx.command_path else ""
        _fail(f"error: {msg}{cmd}", 2)
    except KeyboardInterrupt:
        _fail("error: interrupted", 130)
    except Exception as exc:
        # storage failures (locked, unreachable, read-only, disk full, wrong schema) are the user's to fix;
        # every other exception is a bug and keeps its traceback
        from plexus.platform.tracking import describe_store_error

        line = None if debug else describe_store_error(exc)
        if line is None:
            raise
        _fail(f"error: {line}", 2)
    else:
        if code == 130:
            _fail("error: interrupted", 130)
        if isinstance(code, int) and code:
            sys.exit(code)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(message.strip().replace("\n", " ") + "\n")
    sys.stderr.flush()
    sys.exit(code)
