"""``plexus server`` on a real PostgreSQL: URLs printed, secrets kept out of argv/logs/files, clean SIGTERM;
refusals in one line (exit 2) before anything starts."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _credentials(path: Path, mode: int = 0o600, **values: str) -> Path:
    path.write_text("# the team server\n" + "".join(f"{k}={v}\n" for k, v in values.items()))
    os.chmod(path, mode)
    return path


def _status(url: str, user: str | None = None, password: str | None = None) -> int:
    req = urllib.request.Request(url)
    if user is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.postgres
def test_server_prints_urls_keeps_secrets_and_stops_cleanly(postgres: dict, tmp_path: Path) -> None:
    team_pw = "team-" + secrets.token_hex(8)
    creds = _credentials(tmp_path / "creds", PLEXUS_SERVER_USER="alice", PLEXUS_SERVER_PASSWORD=team_pw,
                         PGPASSWORD=postgres["password"])
    port = _free_port()
    home = tmp_path / "srv"
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "PLEXUS_SERVER_PASSWORD")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "plexus.cli", "server", "--postgres",
         f"postgresql://plexus@127.0.0.1:{postgres['port']}", "--port", str(port), "--home", str(home),
         "--credentials", str(creds), "--auth", "--workers", "1", "--gc-every", "1", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    children: list[int] = []
    started: dict[int, str] = {}
    try:
        head, deadline = "", time.monotonic() + 400
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
            head += line
            if line.startswith("}"):
                break
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        info = json.loads(head)
        assert info["tracking_uri"] == f"http://127.0.0.1:{port}"
        assert info["storage"] == f"postgresql://plexus:***@127.0.0.1:{postgres['port']}/plexus_optuna"
        assert info["auth"] is True and info["user"] == "alice"
        base = info["tracking_uri"]
        search = f"{base}/api/2.0/mlflow/experiments/search?max_results=1"
        assert _status(search) == 401 and _status(search, "alice", "wrong-password-1") == 401
        assert _status(search, "alice", team_pw) == 200
        # the Optuna storage has its schema; the server's databases exist
        import psycopg

        with psycopg.connect(postgres["url"].rsplit("/", 1)[0] + "/plexus_optuna") as c:
            assert c.execute("SELECT count(*) FROM studies").fetchone()[0] == 0
        children = _descendants(proc.pid)
        assert children, "mlflow server was not started as a child"
        started = {p: _stat(p)[1] for p in children}
        for pid in [proc.pid, *children]:  # no secret on any command line (ps shows them to every user)
            cmd = _cmdline(pid)
            assert team_pw not in cmd and postgres["password"] not in cmd, cmd
        files = [p for p in home.rglob("*") if p.is_file()]
        for p in files:
            text = p.read_bytes()
            assert team_pw.encode() not in text and postgres["password"].encode() not in text, p
        assert oct((home / "basic_auth.ini").stat().st_mode & 0o777) == "0o600"
        assert oct(home.stat().st_mode & 0o777) == "0o700"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.returncode == 0, err[-2000:]
    assert team_pw not in out + err and postgres["password"] not in out + err
    deadline = time.monotonic() + 15  # a grandchild adopted by init may still be exiting when the server returns
    while (left := [p for p in children if _alive(p, started[p])]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], [(p, _cmdline(p)) for p in left]
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more


def _stat(pid: int) -> tuple[str, str]:
    """(state, start time in clock ticks) of a process; ("", "") once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return "", ""
    return fields[0], fields[19]


def _alive(pid: int, start: str) -> bool:
    """Still running as the same process: a zombie (exited, not yet reaped by whoever adopted it) or a
    reused pid (another start time) counts as gone."""
    state, now = _stat(pid)
    return state not in ("", "Z", "X") and now == start


def _one_line(cli, args: list[str], *needles: str, secret: str = "") -> str:
    code, out, err = cli(["server", *args])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    for n in needles:
        assert n in lines[0], (n, lines[0])
    if secret:
        assert secret not in out + err
    return lines[0]


def test_refusals_are_one_line(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-" + secrets.token_hex(6)
    monkeypatch.delenv("PLEXUS_SERVER_PASSWORD", raising=False)
    home = ["--home", str(tmp_path / "srv"), "--port", str(_free_port())]
    readable = _credentials(tmp_path / "open", 0o644, PLEXUS_SERVER_PASSWORD=secret)
    _one_line(cli, [*home, "--credentials", str(readable)], "readable by other users (mode 0644)",
              f"chmod 600 {readable}", secret=secret)
    _one_line(cli, [*home, "--credentials", str(tmp_path / "missing")], "no such file")
    bad = _credentials(tmp_path / "bad", PLEXUS_SERVER_PASWORD=secret)
    _one_line(cli, [*home, "--credentials", str(bad)], f"{bad}, row 2", "PLEXUS_SERVER_PASWORD", secret=secret)
    _one_line(cli, [*home, "--host", "0.0.0.0"], "authentication is on", "PLEXUS_SERVER_PASSWORD")
    monkeypatch.setenv("PLEXUS_SERVER_PASSWORD", "short")
    _one_line(cli, [*home, "--host", "0.0.0.0"], "at least 12 characters", secret="short")
    monkeypatch.setenv("PLEXUS_SERVER_PASSWORD", secret)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        _one_line(cli, ["--home", str(tmp_path / "srv"), "--port", str(taken)], f"--port {taken}: already in use")
    dead = _free_port()
    line = _one_line(cli, [*home, "--postgres", f"postgresql://plexus:{secret}@127.0.0.1:{dead}"],
                     f"PostgreSQL postgresql://plexus:***@127.0.0.1:{dead}/postgres is unreachable", secret=secret)
    assert len(line) < 400
