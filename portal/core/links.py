"""Links between the staff pages (customer page, connections list, request log).

Every blueprint is always registered, so links are plain `url_for` calls;
these helpers exist so every page builds the same link the same way.
"""
from urllib.parse import urlencode

from flask import request, url_for


def customer_url(user_id):
    """URL of the customer's detail page."""
    return url_for("customers.detail", user_id=user_id)


def connections_url(status):
    return url_for("connections.index", status=status)


LOG_FILTER_ARGS = ("customer", "endpoint", "status", "date_from", "date_to")


def request_log_url(_view="usage.requests", **args):
    """The request log (or its CSV export) with these filters pre-filled.

    Built by hand rather than url_for(**args) because `endpoint` is both a
    filter name and url_for's own first parameter.
    """
    args = {k: v for k, v in args.items() if v not in (None, "")}
    base = url_for(_view)
    return base + ("?" + urlencode(args) if args else "")


def current_log_url(_view="usage.requests", **extra):
    """The request log keeping the current filters, changed by `extra` (pager links)."""
    args = {k: request.args.get(k) for k in LOG_FILTER_ARGS if request.args.get(k)}
    args.update(extra)
    return request_log_url(_view, **args)


def link_helpers():
    """Template globals for the usage and dashboard blueprints."""
    return {"customer_url": customer_url, "connections_url": connections_url,
            "request_log_url": request_log_url, "current_log_url": current_log_url}
