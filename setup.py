"""Package list for the folder-to-package mapping declared in pyproject.toml.

The top-level folders are PEP 420 portions of ``plexus`` (no ``__init__.py`` at
their root); setuptools' automatic discovery cannot map them, so the list is
computed here. Everything else lives in ``pyproject.toml``.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

PORTIONS = ("platform", "gnn", "recsys", "nas", "evaluation")
packages = ["plexus"] + [f"plexus.{p}" for p in find_namespace_packages(where="plexus", exclude=["*__pycache__*"])]
for top in PORTIONS:
    if not Path(top).is_dir():
        continue
    packages.append(f"plexus.{top}")
    packages += [f"plexus.{top}.{p}" for p in find_namespace_packages(where=top, exclude=["*results*", "*__pycache__*"])]

setup(packages=packages)
