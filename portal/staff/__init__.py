from flask import Blueprint

from portal.core.access import register_policy

bp = Blueprint("staff_admin", __name__, url_prefix="/admin")
register_policy("staff_admin", kind="admin")

