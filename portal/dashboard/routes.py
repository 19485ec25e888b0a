"""The staff home page: what is going on right now, from rollups only."""
import datetime

from flask import current_app, render_template, request

from models import utcnow

from portal.dashboard import service as dashboard_service
from portal.usage.request_log import STATUS_CLASSES
from portal.dashboard import bp, chart

CLASS_ARG = {v: k for k, v in STATUS_CLASSES.items()}  # 4 -> "4xx"


@bp.get("/")
def index():
    now = utcnow()
    days = dashboard_service.period_days(request.args.get("days"))
    figures = dashboard_service.dashboard(
        now, days, current_app.config.get("REFRESH_INTERVAL_SECONDS", 300))
    yesterday = (now - datetime.timedelta(hours=24)).date()
    return render_template(
        "dashboard/index.html", f=figures, periods=dashboard_service.PERIODS,
        bars=chart.stacked_bars(figures["per_day"]), active=chart.line(figures["per_day"]),
        class_labels=chart.CLASS_LABELS, class_arg=CLASS_ARG,
        period_start=figures["per_day"][0].day.isoformat(), today=now.date().isoformat(),
        since_24h=yesterday.isoformat())
