"""GET /healthz: JSON without login, for load balancers and operators.

200 when the database answers and no migration is pending; 503 otherwise
(including a database that cannot be reached), so a load balancer can act.
`sidecar.state` tells "late" from "down" (portal.health.sidecar_state); it
does not change the status code: the portal still serves pages without it.
"""
from flask import Blueprint, current_app, jsonify, request
from peewee import InterfaceError, OperationalError

from models import JobRun, SidecarHeartbeat, database, utcnow

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
        from portal.health.sidecar_state import sidecar_state
        clock = current_app.config.get("CLOCK")
        body["sidecar"] = sidecar_state(clock() if clock else utcnow(), current_app.config)
    except Exception as exc:  # report, never 500: this is what monitoring reads
        current_app.logger.warning("healthz: %s", exc)
    ok = body["database"] and body["pending_migrations"] == []
    body["status"] = "ok" if ok else "degraded"
    return jsonify(body), (200 if ok else 503)


@bp.app_errorhandler(OperationalError)
@bp.app_errorhandler(InterfaceError)
def database_unreachable(error):
    """The app connects before every request; if that fails on /healthz, say so with a 503.

    Every other endpoint keeps the normal 500 path (the error is raised again).
    """
    if request.endpoint != "health.healthz":
        raise error
    current_app.logger.warning("healthz: database unreachable: %s", type(error).__name__)
    return jsonify(status="degraded", database=False, pending_migrations=None,
                   sidecar_last_seen=None, error="database unreachable"), 503


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
