"""The request log (raw api_usage rows): filters, keyset pages, CSV export."""
import datetime

from urllib.parse import urlencode

from flask import flash, render_template, request, url_for

from models import utcnow

from portal.usage import request_log
from portal.core.pagination import BadCursor, day_range
from portal.usage.request_log import LogFilter
from portal.core.csv_export import csv_response
from portal.usage import bp
from portal.usage.forms import RequestLogFilterForm
from portal.core.links import LOG_FILTER_ARGS, customer_url

CSV_COLUMNS = ["id", "timestamp", "email", "user_id", "endpoint", "response_status",
               "duration_ms"]


def _filter_from_form(form):
    """(LogFilter, customer_missing). An unknown email matches no row at all."""
    data = form.data
    user_id, missing = None, False
    if data["customer"]:
        user_id = request_log.customer_id_for_email(data["customer"])
        missing = user_id is None
    start, end = day_range(data["date_from"], data["date_to"])
    return LogFilter(user_id=-1 if missing else user_id,
                     endpoint=(data["endpoint"] or "").strip() or None,
                     status_class=request_log.STATUS_CLASSES.get(data["status"]),
                     start=start, end=end), missing


@bp.get("/requests")
def requests():
    form = RequestLogFilterForm(request.args)
    if request.args and not form.validate():
        return render_template("usage/requests.html", form=form, page=None,
                               endpoints=[]), 400
    log_filter, missing = _filter_from_form(form)
    if missing:
        flash("No customer has the email %s." % form.customer.data, "warning")
    try:
        page = request_log.fetch_page(log_filter, before=request.args.get("before"),
                                      after=request.args.get("after"),
                                      page_size=request_log.PAGE_SIZE)
    except BadCursor:
        flash("That page link is no longer valid; showing the newest rows.", "warning")
        page = request_log.fetch_page(log_filter, page_size=request_log.PAGE_SIZE)
    endpoints = request_log.known_endpoints(utcnow().date() - datetime.timedelta(days=90))
    _add_row_links(page.rows)
    return render_template("usage/requests.html", form=form, page=page, endpoints=endpoints)


def _add_row_links(rows):
    """Per-row drill-down links, built in Python once per page: 50 rows x url_for
    in the template cost more than the page's queries."""
    base = url_for("usage.requests")
    kept = {k: request.args.get(k) for k in LOG_FILTER_ARGS if request.args.get(k)}
    details = {}
    for r in rows:
        r["customer_link"] = base + "?" + urlencode({**kept, "customer": r["email"]})
        r["endpoint_link"] = base + "?" + urlencode({**kept, "endpoint": r["endpoint"]})
        if r["user_id"] not in details:
            details[r["user_id"]] = customer_url(r["user_id"])
        r["detail_link"] = details[r["user_id"]]


@bp.get("/requests.csv")
def requests_csv():
    form = RequestLogFilterForm(request.args)
    if request.args and not form.validate():
        return render_template("usage/requests.html", form=form, page=None,
                               endpoints=[]), 400
    log_filter, _ = _filter_from_form(form)

    rows = ([row[c] for c in CSV_COLUMNS] for row in request_log.iter_rows(log_filter))
    return csv_response(CSV_COLUMNS, rows, "requests.csv")
