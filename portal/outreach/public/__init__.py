"""Public pages reached from customer emails (the signed unsubscribe link)."""
from flask import Blueprint

bp = Blueprint("outreach_public", __name__, url_prefix="/u")
# No policy: its only endpoint is listed in access.PUBLIC_ENDPOINTS and any
# other endpoint added here stays admin-only by default.

