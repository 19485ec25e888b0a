"""GET /healthz: JSON without login, for load balancers and operators."""
from flask import Blueprint, current_app, jsonify

from models import JobRun, SidecarHeartbeat, database

from portal.core.migrations_runner import make_runner, pending

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    body = {"database": False, "pending_migrations": None, "sidecar_last_seen": None}
    try:
        database.execute_sql("SELECT 1")
        body["database"] = True
        runner = make_runner(database.obj, current_app.config["MIGRATIONS_DIR"])
        body["pending_migrations"] = [m.name for m in pending(runner)]
        last = (SidecarHeartbeat.select(SidecarHeartbeat.last_seen_at)
                .order_by(SidecarHeartbeat.last_seen_at.desc()).first()
                if SidecarHeartbeat.table_exists() else None)
        if last:
            body["sidecar_last_seen"] = last.last_seen_at.isoformat() + "Z"
        body["sidecar_last_cycle"] = _last_refresh_cycle()
    except Exception as exc:  # report, never 500: this is what monitoring reads
        current_app.logger.warning("healthz: %s", exc)
    ok = body["database"] and body["pending_migrations"] == []
    body["status"] = "ok" if ok else "degraded"
    return jsonify(body), (200 if ok else 503)


def _last_refresh_cycle():
    """The last token-refresh job run (start, end, counts), or None."""
    run = (JobRun.select().where(JobRun.job == "token_refresh")
           .order_by(JobRun.started_at.desc(), JobRun.id.desc()).first())
    if run is None:
        return None
    iso = lambda t: t.isoformat() + "Z" if t else None  # noqa: E731
    return {"started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
            "refreshed": run.refreshed, "failed": run.failed, "skipped": run.skipped,
            "too_early": run.too_early, "circuit_open": bool(run.circuit_open),
            "error": bool(run.error)}
