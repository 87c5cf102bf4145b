"""What logging through a team's tracking server costs: one short trial through ``plexus server`` (PostgreSQL,
served artifacts, basic auth, over HTTP on this host) vs the same trial on a local SQLite store, interleaved.

    plexus bench team-server [--rounds 3] [--out evaluation/results]

Needs PostgreSQL's server binaries (``initdb``, ``pg_ctl``; run as root they run as user ``postgres``). Each
round runs ``plexus search lr --trials 1`` (5 epochs, the best model logged) once per store in a fresh study;
the trial's own duration (``duration_s``: training, metrics, artifacts, model) and the command's wall time are
recorded. Writes ``team_server.json`` and ``team_server.md``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from plexus.evaluation.bench._harness import RESULTS, describe, machine_info, write_result

__all__ = ["DESCRIPTION", "run"]

DESCRIPTION = "One short trial logged through `plexus server` vs a local SQLite store (team_server.md/.json)."

SEARCH = ["lr", "--dataset", "synthetic-behavior", "--set", "dataset_options.num_users=100", "--set", "epochs=5",
          "--set", "search.register=false", "--trials", "1", "--json"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres(root: Path, password: str) -> tuple[int, list[str]]:
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    (root / "pw").write_text(password)
    if as_user:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    port = _port()
    subprocess.run([*as_user, "initdb", "-D", str(root / "pg"), "-U", "plexus", "--pwfile", str(root / "pw"),
                    "--auth=scram-sha-256"], check=True, capture_output=True, timeout=300)
    subprocess.run([*as_user, "pg_ctl", "-D", str(root / "pg"), "-l", str(root / "pg.log"), "-w", "-o",
                    f"-k {root} -p {port} -c listen_addresses=127.0.0.1", "start"], check=True,
                   capture_output=True, timeout=300)
    return port, as_user


def _search(uri: str, study: str, env: dict[str, str], cwd: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "plexus.cli", "search", *SEARCH, "--study", study,
                          "--tracking-uri", uri], env=env, cwd=cwd, capture_output=True, text=True, timeout=1200,
                         check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"plexus search failed: {out.stderr[-1500:]}")
    trial = json.loads(out.stdout)["trials"][0]
    return {"trial_s": float(trial["duration_s"]), "command_s": wall}


def run(rounds: int = 3, out: Path | None = RESULTS) -> dict[str, Any]:
    """Time ``rounds`` trials per store, interleaved, after one warm-up trial each.

    Args:
        rounds: trials per store.
        out: results folder for team_server.json/.md (None: write nothing).
    """
    root = Path(tempfile.mkdtemp(prefix="plexus-bench-team-"))
    os.chmod(root, 0o755)
    pg_pw, team_pw = secrets.token_hex(8), "bench-" + secrets.token_hex(8)
    port, as_user = _postgres(root, pg_pw)
    work = root / "work"
    work.mkdir()
    base = {**{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PLEXUS_"))},
            "OMP_NUM_THREADS": "1", "PLEXUS_DATA": str(root / "data"), "PLEXUS_OFFLINE": "1"}
    srv_port = _port()
    server = subprocess.Popen([sys.executable, "-m", "plexus.cli", "server", "--postgres",
                               f"postgresql://plexus@127.0.0.1:{port}", "--port", str(srv_port), "--home",
                               str(root / "srv"), "--auth", "--workers", "1", "--json"],
                              env={**base, "PGPASSWORD": pg_pw, "PLEXUS_SERVER_PASSWORD": team_pw},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root)
    try:
        head = ""
        while not head.rstrip().endswith("}"):
            line = server.stdout.readline()
            if not line:
                raise SystemExit(f"plexus server failed: {server.stderr.read()[-1500:]}")
            head += line
        info = json.loads(head)
        remote_env = {**base, "MLFLOW_TRACKING_USERNAME": "plexus", "MLFLOW_TRACKING_PASSWORD": team_pw,
                      "PLEXUS_STORAGE": info["storage"].replace("***", pg_pw)}
        local_env = {**base, "PLEXUS_STORAGE": f"sqlite:///{work / 'optuna.db'}"}
        sqlite = f"sqlite:///{work / 'mlflow.db'}"
        _search(sqlite, "warmup", local_env, work)  # dataset generated, SQLite schema created
        _search(info["tracking_uri"], "warmup", remote_env, work)
        rows: dict[str, list[dict[str, float]]] = {"server": [], "sqlite": []}
        for r in range(rounds):
            rows["sqlite"].append(_search(sqlite, f"r{r}", local_env, work))
            rows["server"].append(_search(info["tracking_uri"], f"r{r}", remote_env, work))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        subprocess.run([*as_user, "pg_ctl", "-D", str(root / "pg"), "-m", "immediate", "stop"],
                       capture_output=True, check=False, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
    med = {k: {m: statistics.median(x[m] for x in v) for m in ("trial_s", "command_s")} for k, v in rows.items()}
    ratio = {m: med["server"][m] / med["sqlite"][m] for m in ("trial_s", "command_s")}
    info = machine_info(threads=1)
    commit = info["commit"]
    res = {"rounds": rows, "median": med, "ratio_server_over_sqlite": ratio, "commit": commit,
           "machine": f"{os.cpu_count()}-core CPU, load average {info['load_avg'][0]:.1f}", "date": info["date"],
           "machine_info": info, "search": " ".join(SEARCH)}
    md = ["# Logging one short trial through the team server vs a local SQLite store", "",
          (f"`plexus search {' '.join(SEARCH)}`, one fresh study per run, stores interleaved, {rounds} rounds "
          f"each ({describe(info)}; load average {info['load_avg'][0]:.1f}). The server is `plexus server` on this "
          "host (PostgreSQL, served artifacts, basic auth, HTTP on 127.0.0.1)."), "",
          "| store | trial s (median) | command s (median) |", "|---|---|---|"]
    for k in ("sqlite", "server"):
        md.append(f"| {k} | {med[k]['trial_s']:.2f} | {med[k]['command_s']:.2f} |")
    md += ["", f"Ratio server / SQLite: trial {ratio['trial_s']:.2f}x, command {ratio['command_s']:.2f}x.", ""]
    if out is not None:
        write_result(res, "\n".join(md), out, "team_server")
    return res
