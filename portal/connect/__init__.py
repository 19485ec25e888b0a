"""Customers connect Exact Online themselves (issue 12).

Two blueprints: `connect` (public: /connect/exact, its callback, the sign-in
link pages) here, and `account` (signed-in customers: /account) in
portal.connect.customer. Services without Flask: oauth.py (state, code
exchange, /current/Me, Divisions), service.py (storing the connection),
signin.py (one-time sign-in links), account.py (the /account page).
"""
import logging
import re

from flask import Blueprint

from portal.core.access import register_policy

bp = Blueprint("connect", __name__)
register_policy("connect", kind="public")

# Request lines of the callback and the sign-in link carry a code, a state or
# a link token: the development server logs request lines, so blank them.
_SECRET_QUERY = re.compile(r"((?:code|state|error_description)=)[^&\s\"]+")
_SIGN_IN_TOKEN = re.compile(r"(/account/sign-in/)[^?\s\"/]+")


class RedactSecrets(logging.Filter):
    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        if "/connect/exact" in message or "/account/sign-in/" in message:
            message = _SECRET_QUERY.sub(r"\1[redacted]", message)
            record.msg, record.args = _SIGN_IN_TOKEN.sub(r"\1[redacted]", message), ()
        return True


_filter = RedactSecrets()
for _name in ("werkzeug", "gunicorn.access"):
    if _filter not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_filter)

