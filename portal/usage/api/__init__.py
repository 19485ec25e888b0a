from flask import Blueprint

from portal.core.access import register_policy

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Authenticated by API key inside the blueprint; CSRF does not apply to a
# bearer-token JSON API (no cookies are used).
register_policy("api", kind="api")


from portal.core.extensions import csrf  # noqa: E402

csrf.exempt(bp)
