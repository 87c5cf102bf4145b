"""A team's shared services on one host: an MLflow tracking server (PostgreSQL, served artifacts, basic auth)
and the Optuna storage on the same PostgreSQL, for ``plexus worker`` processes on other hosts.

:func:`plan_server` checks everything that can be checked before a process starts (credentials, port,
PostgreSQL, databases, schemas) and returns a :class:`ServerPlan`; :func:`start_tracking_server` starts
``mlflow server`` in its own process group and waits until it answers with the team's credentials.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from plexus.platform.errors import ConfigError, TrackingError
from plexus.platform.search import open_storage
from plexus.platform.team._credentials import MIN_PASSWORD, Credentials
from plexus.platform.tracking import mask_text, mask_url, prepare_tracking_store

__all__ = ["DATABASES", "ServerPlan", "is_loopback", "plan_server", "prepare_stores", "server_command",
           "start_tracking_server", "stop_group"]

DATABASES = {"tracking": "mlflow", "storage": "optuna", "auth": "mlflow_auth"}  # suffixes of --db-prefix


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServerPlan:
    """What ``plexus server`` starts: URLs (with the PostgreSQL password only in ``env``), folders, auth."""

    host: str
    port: int
    public_host: str
    home: Path
    tracking_store: str  # the backend store as the server opens it (no password)
    storage: str  # the Optuna storage URL, no password
    auth_store: str
    auth: bool
    credentials: Credentials
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def tracking_uri(self) -> str:
        host = f"[{self.public_host}]" if ":" in self.public_host else self.public_host
        return f"http://{host}:{self.port}"

    @property
    def artifacts(self) -> Path:
        return self.home / "artifacts"

    @property
    def log(self) -> Path:
        return self.home / "logs" / "mlflow-server.log"

    def storage_for_workers(self) -> str:
        """The Optuna storage URL as workers write it, password masked (they set it in PLEXUS_STORAGE)."""
        parts = urlsplit(self.storage)
        if not parts.scheme.startswith("postgresql"):
            return self.storage
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{parts.hostname}" + (
            f":{parts.port}" if parts.port else "")))

    def with_password(self, url: str) -> str:
        """``url`` with the PostgreSQL password put back (for this process's own connections only)."""
        pw = self.env.get("PGPASSWORD")
        parts = urlsplit(url)
        if not pw or not parts.scheme.startswith("postgresql"):
            return url
        from urllib.parse import quote

        return urlunsplit(parts._replace(netloc=f"{parts.username}:{quote(pw, safe='')}@{parts.hostname}"
                                         + (f":{parts.port}" if parts.port else "")))

    def summary(self) -> dict[str, object]:
        return {"tracking_uri": self.tracking_uri, "storage": self.storage_for_workers(),
                "auth": self.auth, "user": self.credentials.user if self.auth else None,
                "artifacts": str(self.artifacts), "home": str(self.home),
                "tracking_store": mask_url(self.tracking_store)}


def port_free(host: str, port: int) -> bool:
    """Whether ``port`` can be bound on ``host`` now (IPv4 or IPv6; a port in TIME_WAIT counts as free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no obstacle
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _split_password(url: str) -> tuple[str, str]:
    """``postgresql://u:pw@h/db`` -> (``postgresql://u@h/db``, ``pw``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, ""
    from urllib.parse import unquote

    netloc = f"{parts.username}@{parts.netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.password)


def _database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}", query=""))


def _ensure_databases(admin_url: str, names: list[str]) -> None:
    """Connect to PostgreSQL (one masked line when it cannot) and create the databases that are missing."""
    try:
        import psycopg
    except ModuleNotFoundError:
        raise ConfigError("--postgres needs the psycopg driver: pip install 'psycopg[binary]'") from None
    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as con:
            have = {r[0] for r in con.execute("SELECT datname FROM pg_database")}
            for name in names:
                if name in have:
                    continue
                try:
                    con.execute(f'CREATE DATABASE "{name}"')
                except psycopg.errors.DuplicateDatabase:  # created by another process meanwhile
                    pass
    except psycopg.Error as exc:
        text = str(exc).strip().splitlines()
        raise ConfigError(f"PostgreSQL {mask_url(admin_url)} is unreachable: "
                          f"{mask_text(text[0] if text else type(exc).__name__)}") from None


def plan_server(*, host: str, port: int, home: Path, credentials: Credentials, postgres: str | None = None,
                db_prefix: str = "plexus", auth: bool | None = None, public_host: str | None = None) -> ServerPlan:
    """Check and prepare a team server; nothing is started. Errors are one line (:class:`ConfigError`).

    Args:
        host: interface to listen on; beyond loopback authentication is on unless ``auth=False``.
        port: the tracking server's port (must be free).
        home: the server's folder on this host (artifacts, auth settings, logs), created ``0700``.
        credentials: the team's user and password (and PostgreSQL's password).
        postgres: ``postgresql://user[:password]@host:port[/db]``: databases ``<prefix>_mlflow``,
            ``<prefix>_optuna`` and ``<prefix>_mlflow_auth`` are created there when missing. None: SQLite files
            in ``home`` (one user on one host).
        auth: force authentication on or off (None: on when ``host`` is not a loopback address).
        public_host: the host name workers use in the printed URLs (default ``host``, or this host's name
            when listening on every interface).
    """
    auth = (not is_loopback(host)) if auth is None else auth
    if auth:
        if not credentials.password:
            raise ConfigError(f"authentication is on (listening on {host}): set PLEXUS_SERVER_PASSWORD or pass "
                              "--credentials FILE (or --no-auth on a trusted network)")
        if len(credentials.password) < MIN_PASSWORD:
            raise ConfigError(f"the server password ({credentials.source}) must be at least {MIN_PASSWORD} "
                              "characters")
        import importlib.util

        if importlib.util.find_spec("flask_wtf") is None:
            raise ConfigError("authentication needs MLflow's auth extra: pip install 'mlflow[auth]'")
    if not port_free(host, port):
        raise ConfigError(f"--port {port}: already in use on {host} (pick another with --port)")
    home = Path(home).expanduser().absolute()
    env: dict[str, str] = {}
    if postgres:
        scheme = urlsplit(postgres).scheme
        if not scheme.startswith("postgresql"):
            raise ConfigError(f"--postgres {mask_url(postgres)}: expected postgresql://user@host:port")
        base, pw = _split_password(postgres)
        pw = pw or credentials.pg_password or os.environ.get("PGPASSWORD", "")
        if pw:
            env["PGPASSWORD"] = pw
        names = {k: f"{db_prefix}_{v}" for k, v in DATABASES.items()}
        admin = _database(base, urlsplit(base).path.strip("/") or "postgres")
        plan = ServerPlan(host, port, public_host or _public(host), home, _database(base, names["tracking"]),
                          _database(base, names["storage"]), _database(base, names["auth"]), auth, credentials, env)
        _ensure_databases(plan.with_password(admin), list(names.values()))
    else:
        plan = ServerPlan(host, port, public_host or _public(host), home, f"sqlite:///{home / 'mlflow.db'}",
                          f"sqlite:///{home / 'optuna.db'}", f"sqlite:///{home / 'mlflow_auth.db'}", auth,
                          credentials, env)
    for d in (home, plan.artifacts, plan.log.parent):
        d.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    return plan


def _public(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        name = socket.getfqdn()
        return socket.gethostname() if not name or name.startswith("localhost") else name
    return host


def prepare_stores(plan: ServerPlan) -> None:
    """Create the tracking store's and the Optuna storage's schemas once (each under an inter-process lock)."""

    prepare_tracking_store(plan.with_password(plan.tracking_store))
    open_storage(plan.with_password(plan.storage))


def _secret_key(home: Path) -> str:
    """The Flask secret of the auth app's CSRF protection: made once, kept in ``home/secret_key`` (0600)."""
    path = home / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def _auth_config(plan: ServerPlan) -> Path:
    """``home/basic_auth.ini`` (0600): the auth store and the admin user's name; passwords stay in the env."""
    path = plan.home / "basic_auth.ini"
    text = ("[mlflow]\n"
            "# team members write to every experiment; the admin user is created on first start\n"
            "default_permission = EDIT\n"
            f"database_uri = {plan.auth_store}\n"
            f"admin_username = {plan.credentials.user}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            "# a checked password is remembered for 60 s: without it every request re-hashes it (PBKDF2), which\n"
            "# made a short trial 7x slower than on a local store; a changed password takes up to 60 s to apply\n"
            "auth_cache_ttl_seconds = 60\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    return path


def server_command(plan: ServerPlan, workers: int = 1, allowed_hosts: str | None = None) -> list[str]:
    """The ``mlflow server`` command line: no secret in it (they travel in the environment)."""
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", plan.tracking_store,
           "--serve-artifacts", "--artifacts-destination", plan.artifacts.as_uri(),
           "--host", plan.host, "--port", str(plan.port), "--workers", str(workers)]
    if plan.auth:
        cmd += ["--app-name", "basic-auth"]
    if allowed_hosts:
        cmd += ["--allowed-hosts", allowed_hosts]
    return cmd


def _server_env(plan: ServerPlan) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_", "PLEXUS_SERVER_"))}
    env.update(plan.env, MLFLOW_DISABLE_TELEMETRY="true", PYTHONUNBUFFERED="1")
    if plan.auth:
        env.update(MLFLOW_AUTH_CONFIG_PATH=str(_auth_config(plan)), MLFLOW_AUTH_ADMIN_USERNAME=plan.credentials.user,
                   MLFLOW_AUTH_ADMIN_PASSWORD=plan.credentials.password,
                   MLFLOW_FLASK_SERVER_SECRET_KEY=_secret_key(plan.home))
    return env


def _get(url: str, credentials: Credentials | None, timeout: float = 5.0) -> int:
    req = urllib.request.Request(url)
    if credentials is not None:
        token = base64.b64encode(f"{credentials.user}:{credentials.password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a server started with ``start_new_session``: SIGTERM to its process group, SIGKILL after ``grace``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _await_ready(proc: subprocess.Popen, plan: ServerPlan, base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            lines = [ln for ln in plan.log.read_text(errors="replace").splitlines() if ln.strip()]
            last = mask_text(lines[-1].strip())[:300] if lines else f"exit code {proc.returncode}"
            raise TrackingError(f"mlflow server exited before it was ready: {last} (log: {plan.log})")
        try:
            if _get(f"{base}/health", None, timeout=2) == 200:
                break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TrackingError(f"mlflow server did not answer on {base} within {timeout:.0f} s (log: {plan.log})")
        time.sleep(0.3)
    if plan.auth:
        code = _get(f"{base}/api/2.0/mlflow/experiments/search?max_results=1", plan.credentials, timeout=30)
        if code in (401, 403):
            raise TrackingError(f"the auth store {mask_url(plan.auth_store)} refuses user '{plan.credentials.user}' "
                                "with this password (the admin password is the one of the server's first start)")


def start_tracking_server(plan: ServerPlan, *, workers: int = 1, allowed_hosts: str | None = None,
                          timeout: float = 300.0) -> subprocess.Popen:
    """Start ``mlflow server`` in its own process group; return once it answers with the team's credentials.

    Raises :class:`TrackingError` (the process group stopped) when it exits early, does not answer within
    ``timeout`` seconds, or refuses the team's password (the auth store keeps the password of its first start).
    """
    with open(plan.log, "ab") as fh:
        proc = subprocess.Popen(server_command(plan, workers, allowed_hosts), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=_server_env(plan), start_new_session=True)
    local = "127.0.0.1" if plan.host in ("0.0.0.0", "") else ("::1" if plan.host == "::" else plan.host)
    base = f"http://[{local}]:{plan.port}" if ":" in local else f"http://{local}:{plan.port}"
    try:
        _await_ready(proc, plan, base, timeout)
    except BaseException:  # Ctrl-C / SIGTERM while waiting included: no orphaned server
        stop_group(proc)
        raise
    return proc
