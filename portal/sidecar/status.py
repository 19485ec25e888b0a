"""How the sidecar is doing, read from its heartbeats and job runs (no Flask).

The ONE reading of sidecar health: the dashboard's "sidecar late" banner, the
connections list's last run and the /connections/sidecar page all use it.
"""
import datetime
from dataclasses import dataclass, field

from models import JobRun, SidecarHeartbeat

TOKEN_REFRESH_JOB = "token_refresh"


@dataclass
class SidecarStatus:
    last_heartbeat: datetime.datetime | None
    heartbeat_sidecar: str | None
    last_run: JobRun | None          # the last token_refresh run
    interval_seconds: int
    late: bool
    heartbeat_stale: bool
    circuit_open: bool
    reasons: list = field(default_factory=list)
    heartbeats: list = field(default_factory=list)  # newest first, one per sidecar
    runs: list = field(default_factory=list)        # newest job runs of every job


def sidecar_status(now, interval_seconds, runs=0, heartbeats=20):
    """Last heartbeat and last token_refresh run; late when either is older than two
    intervals (one missed cycle is tolerated: a slow cycle is not an incident).
    `runs` and `heartbeats` say how many recent rows to list for the sidecar page."""
    grace = datetime.timedelta(seconds=2 * max(1, interval_seconds))
    beats = list(SidecarHeartbeat.select().order_by(SidecarHeartbeat.last_seen_at.desc())
                 .limit(max(1, heartbeats)))
    beat = beats[0] if beats else None
    run = (JobRun.select().where(JobRun.job == TOKEN_REFRESH_JOB)
           .order_by(JobRun.started_at.desc(), JobRun.id.desc()).first())
    recent = (list(JobRun.select().order_by(JobRun.started_at.desc(), JobRun.id.desc())
                   .limit(runs)) if runs else [])
    reasons = []
    heartbeat_stale = beat is None or now - beat.last_seen_at > grace
    if beat is None:
        reasons.append("no sidecar has ever reported")
    elif heartbeat_stale:
        reasons.append("no heartbeat since %s" % beat.last_seen_at.strftime("%Y-%m-%d %H:%M UTC"))
    late = run is None or now - run.started_at > grace
    if run is None:
        reasons.append("the token refresh job has never run")
    elif late:
        reasons.append("last token refresh started %s, more than %d s ago"
                       % (run.started_at.strftime("%Y-%m-%d %H:%M UTC"), grace.total_seconds()))
    return SidecarStatus(
        last_heartbeat=beat.last_seen_at if beat else None,
        heartbeat_sidecar=beat.sidecar if beat else None,
        last_run=run, interval_seconds=interval_seconds, late=late,
        heartbeat_stale=heartbeat_stale, circuit_open=bool(run and run.circuit_open),
        reasons=reasons, heartbeats=beats, runs=recent)
