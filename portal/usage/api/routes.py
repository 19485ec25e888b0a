"""The JSON API for the MCP server: who is this key, and record a call.

Every answer is JSON, errors included (401 for a missing/bad/revoked key, 400
with the reason for a malformed body); nothing is recorded from a bad request.
This month's usage comes from the usage_monthly counter (one primary-key
lookup), never from counting api_usage rows.
"""
from flask import current_app, g, jsonify, request

from models import utcnow
from models.plans import limits_for

from portal.core.json_body import JsonBodyError, load_json
from portal.core.text import find_text_problem
from portal.customers import api_keys, service as customer_service
from portal.usage.counters import month_start, record_api_call
from portal.usage.api import bp

MAX_BODY_BYTES = 4096
MAX_ENDPOINT_LENGTH = 255
MAX_DURATION_MS = 24 * 3600 * 1000


def now():
    """The clock; tests inject config CLOCK (a callable, naive UTC) to pin 'this month'."""
    clock = current_app.config.get("CLOCK")
    return clock() if clock else utcnow()


def _error(status, message):
    response = jsonify(error=message)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@bp.before_request
def authenticate_key():
    header = request.headers.get("Authorization", "")
    if not header:
        return _error(401, "missing Authorization header; send 'Authorization: Bearer <api key>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _error(401, "the Authorization header must use the Bearer scheme")
    g.now = now()
    context = api_keys.authenticate_with_context(token.strip(), month_start(g.now))
    if context is None:
        # One answer for malformed, unknown and revoked keys: no oracle.
        return _error(401, "invalid or revoked API key")
    g.api = context
    api_keys.touch_last_used(context.key, g.now)
    return None


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/me")
def me():
    context = g.api
    if context.has_division_override:
        max_divisions = context.division_override
    else:
        max_divisions = limits_for(context.user.plan).max_divisions
    return jsonify(customer_service.build_profile(context.user, context.month_calls,
                                                  max_divisions, g.now))


def _validate_usage(body):
    """(row fields, None) or (None, reason)."""
    if not isinstance(body, dict):
        return None, "the body must be a JSON object"
    missing = [k for k in ("endpoint", "response_status", "duration_ms") if k not in body]
    if missing:
        return None, "missing field(s): %s" % ", ".join(missing)
    endpoint, status, duration = body["endpoint"], body["response_status"], body["duration_ms"]
    if not isinstance(endpoint, str) or not endpoint.strip():
        return None, "endpoint must be a non-empty string"
    # The portal's one text rule: no controls (C0, C1 such as U+0085), no
    # U+2028/2029 separators, no lone surrogates (a JSON "\ud800" escape).
    problem = find_text_problem(endpoint, MAX_ENDPOINT_LENGTH)
    if problem:
        return None, "endpoint: %s" % problem
    if isinstance(status, bool) or not isinstance(status, int):
        return None, "response_status must be an integer"
    if not 100 <= status <= 599:
        return None, "response_status must be between 100 and 599"
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, (int, float)):
            return None, "duration_ms must be a number or null"
        if not 0 <= duration <= MAX_DURATION_MS:
            return None, "duration_ms must be between 0 and %d" % MAX_DURATION_MS
        duration = int(round(duration))
    return {"endpoint": endpoint.strip(), "response_status": status,
            "duration_ms": duration}, None


@bp.post("/usage")
def record_usage():
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _error(413, "the body must be at most %d bytes" % MAX_BODY_BYTES)
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY_BYTES:
        return _error(413, "the body must be at most %d bytes" % MAX_BODY_BYTES)
    try:
        body = load_json(raw)
    except JsonBodyError as exc:
        return _error(400, str(exc))
    fields, reason = _validate_usage(body)
    if reason:
        return _error(400, reason)
    user = g.api.user
    used = record_api_call(user.id, g.now, fields["endpoint"], fields["response_status"],
                           fields["duration_ms"])
    limit = limits_for(user.plan).monthly_calls
    remaining, allowed = customer_service.usage_against_limit(used, limit)
    return jsonify(used=used, limit=limit, remaining=remaining, allowed=allowed), 201
