"""``python -m plexus`` runs the CLI (same as the ``plexus`` command)."""

from plexus.cli import main

main()
