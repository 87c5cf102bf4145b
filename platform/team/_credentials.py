"""A team server's credentials: from the environment or a private file, never from the command line."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from plexus.platform.errors import ConfigError

__all__ = ["KEYS", "MIN_PASSWORD", "Credentials", "load_credentials"]

KEYS = ("PLEXUS_SERVER_USER", "PLEXUS_SERVER_PASSWORD", "PGPASSWORD")
MIN_PASSWORD = 12  # MLflow's basic-auth app refuses a shorter admin password


@dataclass(frozen=True)
class Credentials:
    """The tracking server's user and password and PostgreSQL's password (each may be empty).

    ``repr`` never shows a password.
    """

    user: str = "plexus"
    password: str = ""
    pg_password: str = ""
    source: str = "environment"

    def __repr__(self) -> str:
        return (f"Credentials(user={self.user!r}, password={'***' if self.password else ''!r}, "
                f"pg_password={'***' if self.pg_password else ''!r}, source={self.source!r})")

    __str__ = __repr__


def _read_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise ConfigError(f"--credentials {path}: no such file")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"--credentials {path}: readable by other users (mode {mode:04o}); "
                          f"run 'chmod 600 {path}'")
    values: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key, sep, value = text.partition("=")
        key = key.strip().removeprefix("export ").strip()
        if not sep or key not in KEYS:
            raise ConfigError(f"--credentials {path}, row {n}: expected KEY=VALUE with KEY one of "
                              f"{', '.join(KEYS)}, got '{key[:40]}'")
        values[key] = value.strip().strip("'\"")
    return values


def load_credentials(path: Path | None = None) -> Credentials:
    """``PLEXUS_SERVER_USER`` (default ``plexus``), ``PLEXUS_SERVER_PASSWORD`` and ``PGPASSWORD``.

    From ``path`` when given (``KEY=VALUE`` lines, ``#`` comments; the file must exist and be readable by its
    owner only, else :class:`ConfigError`), else from the environment.
    """
    if path is not None:
        values, source = _read_file(Path(path).expanduser()), str(path)
    else:
        values, source = {k: os.environ[k] for k in KEYS if os.environ.get(k)}, "environment"
    return Credentials(user=values.get("PLEXUS_SERVER_USER") or "plexus",
                       password=values.get("PLEXUS_SERVER_PASSWORD", ""),
                       pg_password=values.get("PGPASSWORD", ""), source=source)
