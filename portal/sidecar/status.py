"""How the sidecar is doing, read from its heartbeats and job runs (no Flask).

The ONE reading of sidecar health: the dashboard's "sidecar late" banner, the
connections list's last run and the /connections/sidecar page all use it.
"""
import datetime
import json
from dataclasses import dataclass, field

from models import JobRun, SidecarHeartbeat

TOKEN_REFRESH_JOB = "token_refresh"
OUTREACH_JOB = "outreach"


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
    notes: dict = field(default_factory=dict)       # run id -> job_notes(run), for `runs`


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
        reasons=reasons, heartbeats=beats, runs=recent,
        notes={r.id: job_notes(r) for r in recent})


def run_details(run):
    """The job run's details as a dict ({} when absent or unreadable)."""
    try:
        details = json.loads(run.details or "{}")
    except (TypeError, ValueError):
        return {}
    return details if isinstance(details, dict) else {}


def job_notes(run):
    """[(text, bad)] to show beside a job run: for outreach its counts and what failed."""
    if run.job != OUTREACH_JOB:
        return []
    d = run_details(run)
    if not d:
        return []
    notes = [("%d sent \u00b7 %d failed \u00b7 %d skipped" % (
        d.get("sent", 0), d.get("failed", 0), d.get("skipped", 0)), bool(d.get("failed")))]
    if d.get("mail_down"):
        notes.append(("mail transport kept failing: the cycle stopped sending", True))
    for c in d.get("campaign_failures") or []:
        what = ("every send failed" if c.get("all_failed") and c.get("failed")
                else "could not run" if not c.get("failed")
                else "%d failed" % c["failed"])
        notes.append(("campaign \u201c%s\u201d: %s \u2014 %s" % (
            c.get("name", c.get("id")), what, c.get("reason", "")), True))
    return notes


def failing_campaigns():
    """(run, [campaign failure]) from the last finished outreach run: the campaigns none
    of whose sends went out in that whole cycle (each with id, name, failed, reason)."""
    run = (JobRun.select().where((JobRun.job == OUTREACH_JOB) & JobRun.finished_at.is_null(False))
           .order_by(JobRun.started_at.desc(), JobRun.id.desc()).first())
    if run is None:
        return None, []
    return run, [c for c in run_details(run).get("campaign_failures") or []
                 if c.get("all_failed")]
