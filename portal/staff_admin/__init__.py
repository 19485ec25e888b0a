from flask import Blueprint

from ..access import register_policy

bp = Blueprint("staff_admin", __name__, url_prefix="/admin")
register_policy("staff_admin", kind="admin")

from . import routes  # noqa: E402,F401
