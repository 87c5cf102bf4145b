"""``plexus runs gc``: runs left RUNNING by a process that is gone are marked KILLED, with the reason.

A run is judged dead, in this order:

1. it records this host (``plexus.host``) and a process (``plexus.pid``, ``plexus.pid_start``) that is gone
   (a live process with that id and start time keeps the run untouched, whatever else says);
2. it is a search trial (Optuna user attr ``mlflow_run_id``, with ``storage``) whose trial has ended, or
   is RUNNING with no heartbeat for longer than the study's grace period;
3. ``older_than`` is given and nothing was logged to it (start, metrics) for that long.

Anything else is left alone: a run on another host without a trial is alive as far as anyone can tell.
"""

from __future__ import annotations

import socket
import time
from dataclasses import asdict, dataclass
from typing import Any

from plexus.platform.search import RUN_ID_ATTR, open_storage
from plexus.platform.tracking import process_alive

__all__ = ["GcAction", "gc_runs"]

_END_MARGIN_S = 30.0  # a trial that ended this recently may still be closing its run


@dataclass
class GcAction:
    run_id: str
    name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _trials(storage_url: str) -> dict[str, dict[str, Any]]:
    """run id -> {number, study, state, ended (s ago), heartbeat_age (s), grace} for every trial with a run."""
    import sqlalchemy
    from optuna.storages._rdb import models

    storage = open_storage(storage_url)
    with storage.engine.connect() as con:
        now = con.execute(sqlalchemy.select(sqlalchemy.func.now())).scalar()
        hb = models.TrialHeartbeatModel
        beats = dict(con.execute(sqlalchemy.select(hb.trial_id, hb.heartbeat)).all())
    now = now.replace(tzinfo=None)
    out: dict[str, dict[str, Any]] = {}
    for summary in storage.get_all_studies():
        attrs = summary.user_attrs.get("plexus.search") or {}
        settings = attrs.get("settings") or {}
        interval = int(settings.get("heartbeat_interval") or 0)
        grace = int(settings.get("grace_period") or 0) or 3 * interval
        for t in storage.get_all_trials(summary._study_id, deepcopy=False):
            run_id = t.user_attrs.get(RUN_ID_ATTR)
            if not run_id:
                continue
            beat = beats.get(t._trial_id)
            ended = None
            if t.datetime_complete is not None:
                ended = max(0.0, time.time() - t.datetime_complete.timestamp())
            out[run_id] = {"number": t.number, "study": summary.study_name, "state": t.state.name,
                           "ended": ended, "grace": grace,
                           "heartbeat_age": (now - beat.replace(tzinfo=None)).total_seconds() if beat else None}
    return out


def _last_activity_ms(run: Any) -> int:
    times = [run.info.start_time or 0]
    times += [m.timestamp for m in getattr(run.data, "_metric_objs", []) or []]
    return max(times)


def _verdict(run: Any, trial: dict[str, Any] | None, host: str, older_than: float | None) -> str | None:
    tags = run.data.tags
    pid = tags.get("plexus.pid", "")
    if tags.get("plexus.host") == host and pid.isdigit():
        if process_alive(int(pid), tags.get("plexus.pid_start", "")):
            return None
        return f"process {pid} on {host} is gone"
    if trial is not None:
        what = f"trial {trial['number']} of study {trial['study']}"
        if trial["state"] in ("COMPLETE", "PRUNED", "FAIL"):
            if trial["ended"] is not None and trial["ended"] < _END_MARGIN_S:
                return None
            return f"{what} ended {trial['state']} while its run stayed RUNNING (its worker stopped)"
        if trial["state"] == "RUNNING" and trial["grace"] and trial["heartbeat_age"] is not None:
            if trial["heartbeat_age"] > trial["grace"]:
                return f"{what}: no heartbeat from its worker for {trial['heartbeat_age']:.0f} s"
            return None
    if older_than is not None:
        idle = time.time() - _last_activity_ms(run) / 1000
        if idle > older_than:
            return f"nothing logged for {idle / 3600:.1f} h (--older-than {older_than / 3600:g} h)"
    return None


def gc_runs(tracking_uri: str, *, storage_url: str | None = None, older_than: float | None = None,
            dry_run: bool = False) -> list[GcAction]:
    """Mark KILLED the RUNNING runs of ``tracking_uri`` whose process is gone (see the module); return them.

    Each gets ``plexus.state=KILLED`` and ``plexus.failure_reason``. ``older_than`` is in seconds.
    """
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exps = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    if not exps:
        return []
    trials = _trials(storage_url) if storage_url else {}
    host = socket.gethostname()
    actions: list[GcAction] = []
    token = None
    while True:
        page = client.search_runs(exps, "attributes.status = 'RUNNING'", max_results=500, page_token=token)
        for run in page:
            reason = _verdict(run, trials.get(run.info.run_id), host, older_than)
            if reason is None:
                continue
            actions.append(GcAction(run.info.run_id, run.info.run_name or "", reason))
            if dry_run:
                continue
            client.set_tag(run.info.run_id, "plexus.state", "KILLED")
            client.set_tag(run.info.run_id, "plexus.failure_reason", f"plexus runs gc: {reason}")
            client.set_terminated(run.info.run_id, status="KILLED")
        token = page.token
        if not token:
            return actions
