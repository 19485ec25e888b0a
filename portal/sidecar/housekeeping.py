"""Housekeeping: drop log rows nobody will look at again (a sidecar job).

Without it login_attempts, refresh_attempts (at least one row per
connection per day) and job_runs grow forever. Retention is long enough for
every page that reads them: the login throttle looks back 15 minutes, the
dashboard's refresh loops 24 hours, connection pages show recent history.
"""
import datetime

from models import JobRun, LoginAttempt, RefreshAttempt, SidecarHeartbeat, database, utcnow

RETENTION_DAYS = {
    "login_attempts": 90,
    "refresh_attempts": 60,
    "job_runs": 30,
    "sidecar_heartbeats": 7,  # one row per sidecar process ever started
}

_COLUMNS = {
    "login_attempts": LoginAttempt.created_at,
    "refresh_attempts": RefreshAttempt.attempted_at,
    "job_runs": JobRun.started_at,
    "sidecar_heartbeats": SidecarHeartbeat.last_seen_at,
}


def purge_old_records(now=None, retention_days=None):
    """Delete rows older than their retention; returns {table: rows deleted}."""
    now = now or utcnow()
    retention = dict(RETENTION_DAYS, **(retention_days or {}))
    deleted = {}
    for table, column in _COLUMNS.items():
        cutoff = now - datetime.timedelta(days=retention[table])
        with database.atomic():
            deleted[table] = column.model.delete().where(column < cutoff).execute()
    return deleted
