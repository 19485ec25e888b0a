"""GET /healthz: JSON without login, for load balancers and operators."""
from flask import Blueprint, current_app, jsonify

from models import SidecarHeartbeat, database

from ..migrations_runner import make_runner, pending

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
    except Exception as exc:  # report, never 500: this is what monitoring reads
        current_app.logger.warning("healthz: %s", exc)
    ok = body["database"] and body["pending_migrations"] == []
    body["status"] = "ok" if ok else "degraded"
    return jsonify(body), (200 if ok else 503)
