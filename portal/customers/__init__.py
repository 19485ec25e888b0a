from flask import Blueprint

from portal.core.access import register_policy

bp = Blueprint("customers", __name__, url_prefix="/customers")
# Support staff read the list, the CSV export and the detail page; every POST
# here (plan, division limit, create/revoke API key) is admin-only by default.
register_policy("customers", kind="staff")

