from flask import Blueprint

from ..access import register_policy

bp = Blueprint("customers", __name__, url_prefix="/customers")
register_policy("customers", kind="staff")

from . import routes  # noqa: E402,F401
