"""A team's search across hosts, on network namespaces this test creates and removes.

Namespace ``srv`` runs PostgreSQL and ``plexus server``; ``wa`` runs ``plexus search`` (it creates the study and
runs trials in process), ``wb`` runs ``plexus worker`` and is SIGKILLed mid-trial; ``cli`` reads everything back
through the server. Each of ``wa``/``wb`` has its own host name, working folder and data home: they share
nothing but the network. Needs root, ``ip netns`` and PostgreSQL's server binaries.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.multihost, pytest.mark.postgres]

NET = "10.77.0"
TRIALS = 6
STUDY = "team"
# 1,000 users at batch 16: ~0.5 s epochs, so worker A cannot finish the study before worker B takes a trial
SEARCH = ["lr", "--dataset", "synthetic-behavior", "--set", "dataset_options.num_users=1000", "--set", "batch_size=16",
          "--set", "epochs=5",
          "--set", "search.heartbeat_interval=1", "--set", "search.pruner=none", "--set", "search.min_epochs=1",
          "--set", "search.checkpoint_every_s=0.001"]  # every epoch uploads its checkpoint through the server


def _run(*cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True, timeout=timeout)


def _netns_usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    if not shutil.which("ip") or not shutil.which("unshare") or not shutil.which("runuser"):
        return "needs ip, unshare and runuser"
    if not shutil.which("initdb") or not shutil.which("pg_ctl"):
        return "needs PostgreSQL's initdb and pg_ctl"
    probe = f"plxprobe{os.getpid()}"
    if _run("ip", "netns", "add", probe, check=False).returncode != 0:
        return "ip netns add is not permitted here"
    _run("ip", "netns", "del", probe, check=False)
    return None


class Net:
    """Namespaces ``srv`` (10.77.0.1, holding the bridge), ``wa``, ``wb``, ``cli`` joined by veth pairs."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.names = {n: f"plx{tag}{n}" for n in ("srv", "wa", "wb", "cli")}
        self.addr = {"srv": f"{NET}.1", "wa": f"{NET}.2", "wb": f"{NET}.3", "cli": f"{NET}.4"}
        self.tag = tag

    def up(self) -> None:
        srv = self.names["srv"]
        for ns in self.names.values():
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", srv, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", srv, "addr", "add", f"{self.addr['srv']}/24", "dev", "br0")
        _run("ip", "-n", srv, "link", "set", "br0", "up")
        for i, who in enumerate(("wa", "wb", "cli")):
            a, b = f"pv{self.tag}{i}a", f"pv{self.tag}{i}b"
            _run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
            _run("ip", "link", "set", a, "netns", srv)
            _run("ip", "link", "set", b, "netns", self.names[who])
            _run("ip", "-n", srv, "link", "set", a, "master", "br0")
            _run("ip", "-n", srv, "link", "set", a, "up")
            _run("ip", "-n", self.names[who], "addr", "add", f"{self.addr[who]}/24", "dev", b)
            _run("ip", "-n", self.names[who], "link", "set", b, "up")

    def down(self) -> None:
        for ns in self.names.values():  # deleting a namespace deletes its veth ends (and their peers)
            _run("ip", "netns", "del", ns, check=False)

    def cmd(self, who: str, args: list[str], host: str | None = None) -> list[str]:
        """``args`` run in namespace ``who``, under its own host name (a UTS namespace) when ``host`` is given."""
        pre = ["ip", "netns", "exec", self.names[who]]
        if host:
            pre += ["unshare", "--uts", "sh", "-c", f'hostname {host} && exec "$@"', "sh"]
        return pre + args


def _plexus(*args: str) -> list[str]:
    return [sys.executable, "-m", "plexus.cli", *args]


def _env(home: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PLEXUS_", "PG"))}
    home.mkdir(parents=True, exist_ok=True)
    return {**keep, "PLEXUS_DATA": str(home / "data"), "PLEXUS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "MLFLOW_DISABLE_TELEMETRY": "true", "HOME": str(home), **extra}


def _postgres(net: Net, root: Path, password: str) -> None:
    data = root / "pg"
    pw = root / "pgpw"
    pw.write_text(password)
    shutil.chown(root, "postgres")
    shutil.chown(pw, "postgres")
    _run("runuser", "-u", "postgres", "--", "initdb", "-D", str(data), "-U", "plexus", "--pwfile", str(pw),
         "--auth=scram-sha-256", "-E", "UTF8", timeout=120)
    with open(data / "pg_hba.conf", "a") as fh:
        fh.write(f"host all all {NET}.0/24 scram-sha-256\n")
    _run(*net.cmd("srv", ["runuser", "-u", "postgres", "--", "pg_ctl", "-D", str(data), "-l", str(root / "pg.log"),
                          "-w", "-o", f"-k {root} -p 5432 -c listen_addresses={net.addr['srv']}", "start"]),
         timeout=120)


def _read_json_object(proc: subprocess.Popen, timeout: float) -> dict:
    head, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        head += line
        if line.startswith("}"):
            return json.loads(head)
    raise AssertionError(f"plexus server printed no URLs: {proc.stderr.read()[-2000:] if proc.poll() else head}")


def _check(net: Net, env: dict, code: str, timeout: float = 240) -> dict:
    """Run ``code`` (Python, prints one JSON value) in the ``cli`` namespace."""
    out = subprocess.run(net.cmd("cli", [sys.executable, "-c", code]), env=env, capture_output=True, text=True,
                         timeout=timeout, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


READ_BACK = """
import json, os, tempfile
import optuna
from mlflow.tracking import MlflowClient
uri, storage, study = os.environ["T_URI"], os.environ["PLEXUS_STORAGE"], os.environ["T_STUDY"]
c = MlflowClient(uri)
exp = c.get_experiment_by_name("plexus")
runs = c.search_runs([exp.experiment_id], f"tags.`plexus.study` = '{study}'", max_results=1000)
s = optuna.load_study(study_name=study, storage=storage)
out = {"runs": {}, "trials": []}
for r in runs:
    with tempfile.TemporaryDirectory() as d:
        got = sorted(os.listdir(c.download_artifacts(r.info.run_id, "", d)))
    out["runs"][r.info.run_id] = {"status": r.info.status, "tags": {k: v for k, v in r.data.tags.items()
        if k.startswith("plexus.")}, "artifacts": got, "metrics": sorted(r.data.metrics)}
for t in s.trials:
    out["trials"].append({"number": t.number, "state": t.state.name, "params": t.params,
        "run": t.user_attrs.get("mlflow_run_id"), "worker": t.user_attrs.get("plexus.worker", ""),
        "retry_of": t.system_attrs.get("failed_trial"), "surplus": bool(t.user_attrs.get("plexus.surplus")),
        "resumed_from_epoch": t.user_attrs.get("plexus.resumed_from_epoch"),
        "retried": t.number in {n for x in s.trials for n in x.system_attrs.get("retry_history", [])}})
import mlflow
mlflow.set_tracking_uri(uri)  # models:/ URIs are resolved by the default client
models = [r.data.tags["plexus.model_uri"] for r in runs if r.data.tags.get("plexus.model_uri")]
with tempfile.TemporaryDirectory() as d:  # the best trial's model, downloaded through the server
    out["model_files"] = sorted(os.listdir(mlflow.artifacts.download_artifacts(
        artifact_uri=models[-1], dst_path=d))) if models else []
print(json.dumps(out))
"""


def test_team_search_across_hosts() -> None:
    why = _netns_usable()
    if why:
        pytest.skip(why)
    root = Path(tempfile.mkdtemp(prefix="plexus-team-"))
    os.chmod(root, 0o755)
    net = Net()
    pg_pw = "pg-" + secrets.token_hex(8)
    team_pw = "team-" + secrets.token_hex(8)
    procs: list[subprocess.Popen] = []
    try:
        net.up()
        _postgres(net, root, pg_pw)
        srv = net.addr["srv"]
        # the server host: credentials in a private file, nothing secret on any command line
        creds = root / "server" / "credentials"
        creds.parent.mkdir()
        creds.write_text(f"PLEXUS_SERVER_USER=team\nPLEXUS_SERVER_PASSWORD={team_pw}\nPGPASSWORD={pg_pw}\n")
        os.chmod(creds, 0o600)
        server = subprocess.Popen(
            net.cmd("srv", _plexus("server", "--postgres", f"postgresql://plexus@{srv}:5432", "--host", srv,
                                   "--port", "5000", "--home", str(root / "server" / "home"), "--credentials",
                                   str(creds), "--workers", "1", "--gc-every", "2", "--json"), host="server"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(root / "server"),
            cwd=root / "server")
        procs.append(server)
        info = _read_json_object(server, 400)
        uri = info["tracking_uri"]
        assert uri == f"http://{srv}:5000" and info["auth"] is True
        assert info["storage"] == f"postgresql://plexus:***@{srv}:5432/plexus_optuna"
        storage = info["storage"].replace("***", pg_pw)
        team = {"MLFLOW_TRACKING_USERNAME": "team", "MLFLOW_TRACKING_PASSWORD": team_pw, "PLEXUS_STORAGE": storage}

        # host A creates the study and runs trials; host B joins once the study exists
        wa_env = _env(root / "wa", **team)
        a = subprocess.Popen(
            net.cmd("wa", _plexus("search", *SEARCH, "--trials", str(TRIALS), "--study", STUDY,
                                  "--tracking-uri", uri, "--json"), host="gpu-a"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=wa_env, cwd=root / "wa")
        procs.append(a)
        wb_env = _env(root / "wb", **team)
        exists = (f"import optuna; s = optuna.load_study(study_name={STUDY!r}, storage={storage!r}); "
                  "assert 'plexus.search' in s.user_attrs")  # the study is ready for workers
        deadline = time.monotonic() + 240
        while subprocess.run(net.cmd("wb", [sys.executable, "-c", exists]), env=wb_env, capture_output=True,
                             timeout=120, check=False).returncode != 0:
            assert a.poll() is None and time.monotonic() < deadline, a.stderr.read()[-2000:] if a.poll() else ""
            time.sleep(1)
        b = subprocess.Popen(net.cmd("wb", _plexus("worker", "--study", STUDY, "--tracking-uri", uri), host="gpu-b"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=wb_env, cwd=root / "wb")
        procs.append(b)
        victim, told = None, []
        for line in b.stderr:
            told.append(line)  # "trial N: epoch 2/5 ..." once epoch 1's checkpoint is surely uploaded: kill it
            found = re.match(r"trial (\d+): epoch [2-4]/", line.strip())
            if found:
                victim = int(found.group(1))
                b.send_signal(signal.SIGKILL)
                break
        b.wait(timeout=60)
        assert victim is not None and b.returncode == -signal.SIGKILL, f"worker B finished no epoch: {''.join(told)[-3000:]}"

        out, err = a.communicate(timeout=400)
        assert a.returncode == 0, err[-3000:]
        result = json.loads(out)
        assert result["finished"] == TRIALS and result["complete"] is True
        for text in (out, err):
            assert team_pw not in text and pg_pw not in text

        # a worker with a wrong password: one line, exit 2, the password nowhere
        wrong = "wrong-" + secrets.token_hex(8)
        bad = subprocess.run(net.cmd("cli", _plexus("worker", "--study", STUDY, "--tracking-uri", uri)),
                             env=_env(root / "cli", **{**team, "MLFLOW_TRACKING_PASSWORD": wrong}),
                             capture_output=True, text=True, timeout=240, check=False)
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode == 2 and len(lines) == 1, bad.stderr[-2000:]
        assert lines[0].startswith(f"error: tracking server {uri} refused user 'team'") and wrong not in bad.stderr

        # the team's runs, read back through the server from a third host
        cli_env = _env(root / "cli", **team, T_URI=uri, T_STUDY=STUDY)
        gc = subprocess.run(net.cmd("cli", _plexus("runs", "gc", "--tracking-uri", uri, "--json")), env=cli_env,
                            capture_output=True, text=True, timeout=240, check=False)
        assert gc.returncode == 0, gc.stderr[-2000:]
        seen = _check(net, cli_env, READ_BACK)
        trials = seen["trials"]
        counted = [t for t in trials if not t["retried"] and not t["surplus"]]
        assert len(counted) == TRIALS and all(t["state"] == "COMPLETE" for t in counted), trials
        assert len({json.dumps(t["params"], sort_keys=True) for t in counted}) == TRIALS  # none lost or doubled
        dead = next(t for t in trials if t["number"] == victim)
        assert dead["state"] == "FAIL" and dead["retried"] and "gpu-b" in dead["worker"]
        retry = [t for t in trials if t["retry_of"] == victim]
        assert len(retry) == 1 and retry[0]["state"] == "COMPLETE" and retry[0]["params"] == dead["params"]
        runs = seen["runs"]
        assert {t["run"] for t in trials} <= set(runs)
        for t in counted:
            r = runs[t["run"]]
            assert r["status"] == "FINISHED" and {"config.yaml", "history.json"} <= set(r["artifacts"]), r
            assert "val_auc" in r["metrics"] and r["tags"]["plexus.host"] in ("gpu-a", "gpu-b")
        # the retry continued the dead trial's run from its last uploaded checkpoint: one run, the whole curve
        assert retry[0]["resumed_from_epoch"] and retry[0]["resumed_from_epoch"] >= 1, retry
        assert retry[0]["run"] == dead["run"]
        resumed = runs[dead["run"]]
        assert resumed["status"] == "FINISHED" and resumed["tags"]["plexus.host"] == "gpu-a", resumed
        assert int(resumed["tags"]["plexus.resumed_from_epoch"]) == retry[0]["resumed_from_epoch"]
        assert not [r for r in runs.values() if r["status"] == "RUNNING"]
        assert "MLmodel" in seen["model_files"], seen["model_files"]  # the best model, served by the server
        cmp = subprocess.run(net.cmd("cli", _plexus("compare", "--study", STUDY, "--tracking-uri", uri, "--json",
                                                    "--no-log", "--output", str(root / "cli" / "cmp.html"))),
                             env=cli_env, capture_output=True, text=True, timeout=240, check=False)
        assert cmp.returncode == 0, cmp.stderr[-2000:]
        assert len([r for r in json.loads(cmp.stdout)["runs"] if r["state"] == "FINISHED"]) >= TRIALS

        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        assert server.returncode == 0
        s_out, s_err = server.communicate()
        assert team_pw not in s_out + s_err and pg_pw not in s_out + s_err
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if p is procs[0] else signal.SIGKILL)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        pg = root / "pg"
        if pg.exists():
            _run("runuser", "-u", "postgres", "--", "pg_ctl", "-D", str(pg), "-m", "immediate", "stop",
                 check=False, timeout=60)
        net.down()
        shutil.rmtree(root, ignore_errors=True)
    left = _run("ip", "netns", "list").stdout
    assert not any(ns in left for ns in net.names.values())
