from flask import Blueprint

from portal.core.access import register_policy

bp = Blueprint("flags", __name__, url_prefix="/flags")
# Support staff read the flags page; every write (POST) is admin-only by the
# default policy, and the edit form page is admin-only even to open.
register_policy("flags", kind="staff", admin_pages=("flags.edit",))

