"""The /metrics view: token check, then the rendered figures."""
import hmac
import os

from flask import Response, current_app, jsonify, request

from portal.metrics import bp
from portal.metrics.collectors import CONTENT_TYPE, render


def configured_token():
    return current_app.config.get("METRICS_TOKEN") or os.environ.get("METRICS_TOKEN") or ""


@bp.get("/metrics")
def metrics():
    expected = configured_token()
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Unset METRICS_TOKEN: nobody gets in (the same 401, so no oracle).
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), expected.encode()):
        # The same body as every other refusal (portal.core.access); the README
        # says which token to send.
        response = jsonify(error="authentication required")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = render(now=current_app.config.get("CLOCK"), config=current_app.config)
    return Response(body, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
