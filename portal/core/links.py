"""Links from the usage pages and the dashboard to other blueprints, only if they exist.

Customers and connections pages belong to another part of the portal; a link
is built only when its endpoint is registered, with whatever the URL rule
calls its id argument, so these pages never break on a missing endpoint.
"""
from urllib.parse import urlencode

from flask import current_app, request, url_for
from werkzeug.routing import BuildError


def has_endpoint(endpoint):
    return endpoint in current_app.view_functions


def _customer_id_arg():
    """The name of customers.detail's one URL argument (looked up once per app)."""
    cache = current_app.extensions.setdefault("usage_links", {})
    if "customer_arg" not in cache:
        cache["customer_arg"] = None
        if has_endpoint("customers.detail"):
            for rule in current_app.url_map.iter_rules("customers.detail"):
                if len(rule.arguments) == 1:
                    cache["customer_arg"] = next(iter(rule.arguments))
                    break
    return cache["customer_arg"]


def customer_url(user_id):
    """URL of the customer's detail page, or None."""
    arg = _customer_id_arg()
    if arg is None:
        return None
    try:
        return url_for("customers.detail", **{arg: user_id})
    except BuildError:
        return None


def connections_url(status):
    if not has_endpoint("connections.index"):
        return None
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
