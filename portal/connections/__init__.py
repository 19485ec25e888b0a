from flask import Blueprint

from ..access import register_policy

bp = Blueprint("connections", __name__, url_prefix="/connections")
register_policy("connections", kind="staff")

from . import routes  # noqa: E402,F401
