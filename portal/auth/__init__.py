from flask import Blueprint

from portal.core.access import register_policy

bp = Blueprint("auth", __name__)
# /login is public (PUBLIC_ENDPOINTS); logout is a write any staff may do.
register_policy("auth", kind="staff", support_actions={"auth.logout"})

