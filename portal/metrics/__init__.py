"""GET /metrics: Prometheus text format for operators, behind a bearer token.

Access: `Authorization: Bearer $METRICS_TOKEN`. A missing or wrong token
answers 401 JSON; with METRICS_TOKEN unset every request does (metrics off). The token
is compared in constant time and never logged. The access policy is "api"
(authenticated inside the blueprint, never a login redirect).

This package also times every request of the app (hooks installed when the
blueprint is registered), for the latency histograms in portal.metrics.collectors.
"""
import time

from flask import Blueprint, g, request

from portal.core.access import register_policy

bp = Blueprint("metrics", __name__)
register_policy("metrics", kind="api")


def _start_timer():
    g._metrics_started = time.perf_counter()


def _observe(response):
    started = g.pop("_metrics_started", None)
    if started is None:
        return response
    try:
        from portal.metrics.collectors import observe_request
        blueprint = request.blueprint or "none"
        if blueprint == "metrics":
            return response  # scrapes are not traffic
        api_endpoint = None
        if blueprint == "api":
            api_endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        observe_request(blueprint, request.method, time.perf_counter() - started,
                        api_endpoint=api_endpoint, status=response.status_code)
    except Exception:  # metrics must never break a request
        pass
    return response


@bp.record_once
def _install_hooks(state):
    # First before_request of the app, so requests the access check or the API
    # key check answers early are timed too.
    state.app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    state.app.after_request_funcs.setdefault(None, []).append(_observe)
