import datetime

from models import JobRun, LoginAttempt, RefreshAttempt, SidecarHeartbeat, User, Connection
from portal.sidecar.housekeeping import RETENTION_DAYS, purge_old_records

NOW = datetime.datetime(2026, 11, 29, 12, 0)


def _ago(days):
    return NOW - datetime.timedelta(days=days)


def test_purge_drops_only_rows_past_their_retention(app):
    user = User.create(email="a@example.nl")
    conn = Connection.create(user=user, division=1)
    for days in (1, RETENTION_DAYS["login_attempts"] + 1):
        LoginAttempt.create(email="x@example.nl", created_at=_ago(days))
    for days in (1, RETENTION_DAYS["refresh_attempts"] + 1):
        RefreshAttempt.create(connection=conn, user=user, outcome="success",
                              attempted_at=_ago(days))
    for days in (1, RETENTION_DAYS["job_runs"] + 1):
        JobRun.create(job="token_refresh", started_at=_ago(days))
    SidecarHeartbeat.create(sidecar="old", last_seen_at=_ago(RETENTION_DAYS["sidecar_heartbeats"] + 1))
    SidecarHeartbeat.create(sidecar="live", last_seen_at=NOW)

    deleted = purge_old_records(now=NOW)

    assert deleted == {"login_attempts": 1, "refresh_attempts": 1, "job_runs": 1,
                       "sidecar_heartbeats": 1}
    assert [a.created_at for a in LoginAttempt.select()] == [_ago(1)]
    assert [a.attempted_at for a in RefreshAttempt.select()] == [_ago(1)]
    assert [r.started_at for r in JobRun.select()] == [_ago(1)]
    assert [h.sidecar for h in SidecarHeartbeat.select()] == ["live"]
    assert purge_old_records(now=NOW) == dict.fromkeys(deleted, 0)
