from flask import Blueprint

from ..access import register_policy

bp = Blueprint("templates_admin", __name__, url_prefix="/templates")
register_policy("templates_admin", kind="staff")

from . import routes  # noqa: E402,F401
