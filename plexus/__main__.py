"""``python -m plexus`` runs the CLI (same as the ``plexus`` command)."""

from plexus.platform.cli import main

main()
