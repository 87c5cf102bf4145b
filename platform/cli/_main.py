"""Entry point: ``plexus`` sub-commands. Each command parses, calls one service, prints."""

from __future__ import annotations

import os
import sys
from typing import Optional

import click
import typer

from plexus.platform.cli import _datasets, _models, _train
from plexus.platform.errors import PlexusError

__all__ = ["app", "main"]

app = typer.Typer(
    name="plexus",
    help="Plexus: graph and recommender ML platform (catalog, training, tracking, search).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(_models.app, name="models")
app.add_typer(_datasets.app, name="datasets")
_train.register(app)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    if debug:
        os.environ["PLEXUS_DEBUG"] = "1"


def main(argv: Optional[list[str]] = None) -> None:
    """Run the CLI; user errors print one line on stderr and exit with code 2."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("PLEXUS_DEBUG"))
    try:
        app(args=args, prog_name="plexus", standalone_mode=False)
    except PlexusError as exc:
        if debug:
            raise
        _fail(f"error: {exc}", exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _fail("error: aborted", 130)
    except click.ClickException as exc:
        msg = exc.format_message().replace("\n", " ")
        ctx = getattr(exc, "ctx", None)
        cmd = f" (see 'plexus {ctx.command_path.split(' ', 1)[1]} --help')" if ctx and " " in ctx.command_path else ""
        _fail(f"error: {msg}{cmd}", 2)
    except KeyboardInterrupt:
        _fail("error: interrupted", 130)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(message.strip().replace("\n", " ") + "\n")
    sys.stderr.flush()
    sys.exit(code)
