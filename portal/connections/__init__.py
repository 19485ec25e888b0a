from flask import Blueprint

from portal.core.access import register_policy
from portal.core.timefmt import iso_utc, relative_time

bp = Blueprint("connections", __name__, url_prefix="/connections")
# Support staff may ask for a retry; resetting a failed connection is admin-only
# (every other write in this blueprint is admin-only by default).
register_policy("connections", kind="staff", support_actions=["connections.retry_now"])
bp.app_template_filter("reltime")(relative_time)
bp.app_template_filter("isoutc")(lambda value: iso_utc(value) or "")

