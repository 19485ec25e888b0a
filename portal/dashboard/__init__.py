from flask import Blueprint

from ..access import register_policy

bp = Blueprint("dashboard", __name__)
register_policy("dashboard", kind="staff")

from . import routes  # noqa: E402,F401
