"""Is the sidecar working, late, or down? (read from the database, no Flask)

* down: no sidecar heartbeat for SIDECAR_DOWN_AFTER_SECONDS (default 180 s,
  six missed 30 s heartbeats) and no refresh cycle in flight: no sidecar
  process is alive; restart it.
* late: a sidecar is alive (it beats) but the last token-refresh cycle
  finished more than 2 x REFRESH_INTERVAL_SECONDS + 60 s ago (or never): it is
  stuck in a long cycle or its jobs fail; look at its log and job_runs.
* ok: alive, and a cycle finished within that window.
"""
import datetime

from peewee import fn

from models import JobRun, SidecarHeartbeat

DOWN_AFTER_SECONDS = 180


def sidecar_state(now, config):
    interval = int(config.get("REFRESH_INTERVAL_SECONDS", 300))
    late_after = datetime.timedelta(seconds=2 * interval + 60)
    down_after = datetime.timedelta(seconds=int(config.get("SIDECAR_DOWN_AFTER_SECONDS",
                                                           DOWN_AFTER_SECONDS)))
    beat = SidecarHeartbeat.select(fn.MAX(SidecarHeartbeat.last_seen_at)).scalar()
    finished = (JobRun.select(fn.MAX(JobRun.finished_at))
                .where(JobRun.job == "token_refresh").scalar())
    in_flight = (JobRun.select().where((JobRun.job == "token_refresh")
                                       & JobRun.finished_at.is_null()
                                       & (JobRun.started_at >= now - late_after)).exists())
    beat, finished = _dt(beat), _dt(finished)
    since_beat = (now - beat).total_seconds() if beat else None
    since_cycle = (now - finished).total_seconds() if finished else None
    if (beat is None or now - beat > down_after) and not in_flight:
        state = "down"
    elif finished is None or now - finished > late_after:
        state = "late"
    else:
        state = "ok"
    return {"state": state, "seconds_since_heartbeat": _round(since_beat),
            "seconds_since_refresh_cycle": _round(since_cycle),
            "late_after_seconds": int(late_after.total_seconds()),
            "down_after_seconds": int(down_after.total_seconds())}


def _round(value):
    return None if value is None else round(value, 1)


def _dt(value):
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    return value
