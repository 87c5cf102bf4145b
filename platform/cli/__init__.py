"""The ``plexus`` command line: a thin face over the services."""

from plexus.platform.cli._main import app, main

__all__ = ["app", "main"]
