"""Plexus: a graph and recommender ML platform.

The package is assembled from the repository's top-level folders
(``platform/`` -> ``plexus.platform``, ``gnn/`` -> ``plexus.gnn``, ...), mapped by
``[tool.setuptools.package-dir]``. They carry no ``__init__.py`` of their own, so
running Python from the repository root never shadows the standard library's
``platform`` module.
"""

from __future__ import annotations

from pathlib import Path as _Path

__all__ = ["__version__"]
__version__ = "0.1.0"

_root = _Path(__file__).resolve().parent.parent
if (_root / "pyproject.toml").is_file() and (_root / "platform" / "catalog").is_dir():
    # Source checkout (editable install): the portions sit beside this folder, and
    # setuptools' editable finder does not resolve namespace portions below a
    # regular package, so the checkout root joins this package's search path.
    __path__.append(str(_root))
