from flask import Blueprint

from ..access import register_policy

bp = Blueprint("flags", __name__, url_prefix="/flags")
register_policy("flags", kind="staff")

from . import routes  # noqa: E402,F401
