"""/account: the signed-in customer's own page (plan, usage, connections, keys, opt-out)."""
from flask import Blueprint

from portal.core.access import register_policy

bp = Blueprint("account", __name__, url_prefix="/account")
# Every endpoint needs a signed-in customer (portal.core.customer_session);
# staff sessions are not customer sessions.
register_policy("account", kind="customer")

