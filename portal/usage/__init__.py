from flask import Blueprint

from ..access import register_policy
from .links import link_helpers

bp = Blueprint("usage", __name__, url_prefix="/usage")
register_policy("usage", kind="staff")
bp.context_processor(link_helpers)

from . import routes  # noqa: E402,F401
