from flask import Blueprint

from ..access import register_policy

bp = Blueprint("usage", __name__, url_prefix="/usage")
register_policy("usage", kind="staff")

from . import routes  # noqa: E402,F401
