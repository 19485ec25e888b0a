"""Security headers on every response, cookie settings, and request hygiene.

* Cookies: HttpOnly and SameSite=Lax always; in production (PORTAL_ENV=
  production) also Secure with the `__Host-` prefix (which browsers only
  accept with Secure, Path=/ and no Domain).
* Headers: a strict CSP without inline script or style, nosniff,
  Referrer-Policy, frame denial, no caching of pages behind the login, and
  HSTS in production.
* Form bodies and query strings that are not valid UTF-8 are refused with a
  clear 400 instead of being silently mangled or dropped by the parser.
"""
from datetime import timedelta
from urllib.parse import parse_qsl

from flask import g, request
from flask_login import current_user

from portal.core.errors import error_response

CSP = ("default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
HSTS = "max-age=31536000; includeSubDomains"
PRODUCTION_SESSION_COOKIE = "__Host-session"
BAD_ENCODING_MESSAGE = "The request contained text that is not valid UTF-8. Please retype it."


def init_app(app):
    production = bool(app.config.get("PRODUCTION"))
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    # Flask's defaults exist (SameSite unset, 31-day lifetime), so set, not setdefault.
    if app.config.get("SESSION_COOKIE_SAMESITE") != "Strict":
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.config["REMEMBER_COOKIE_SAMESITE"] = "Lax"
    # The browser drops the cookie when the absolute lifetime is over, too.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(
        hours=int(app.config.get("SESSION_MAX_HOURS", 12)))
    if production:
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
        app.config["SESSION_COOKIE_NAME"] = PRODUCTION_SESSION_COOKIE
        app.config["SESSION_COOKIE_PATH"] = "/"
        app.config["SESSION_COOKIE_DOMAIN"] = None  # __Host- forbids a Domain attribute

    app.before_request(forget_previous_user)
    app.before_request(refuse_bad_encoding)

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if production:
            headers.setdefault("Strict-Transport-Security", HSTS)
        # Pages behind the login hold customer data: never keep them in caches.
        if request.endpoint != "static" and _logged_in():
            headers["Cache-Control"] = "no-store"
        return response



def forget_previous_user():
    """before_request: decide who is logged in from this request's cookie only.

    Flask-Login caches the user on `g`, which lives on the app context. When a
    long-lived app context is already pushed (tests, scripts), requests share
    it, and one client's user would leak into the next request.
    """
    g.pop("_login_user", None)


def _logged_in():
    try:
        return bool(current_user and current_user.is_authenticated)
    except Exception:  # outside a login context (e.g. very early errors)
        return False


def _is_valid_utf8_query(raw):
    try:
        text = raw.decode("utf-8")
        parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def refuse_bad_encoding():
    """before_request: refuse query strings and form bodies that are not UTF-8.

    It must run before anything reads request.form (Flask-WTF's CSRF check
    does): the parser consumes the body, after which get_data() is empty and
    the url-encoded check would pass anything. create_app registers it first.
    """
    if request.query_string and not _is_valid_utf8_query(request.query_string):
        return error_response(400, BAD_ENCODING_MESSAGE)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if request.mimetype == "application/x-www-form-urlencoded":
        if not _is_valid_utf8_query(request.get_data(cache=True)):
            return error_response(400, BAD_ENCODING_MESSAGE)
    elif request.mimetype == "multipart/form-data":
        # Werkzeug decodes multipart fields with errors="replace": bytes that
        # were not UTF-8 arrive as U+FFFD (which the forms refuse as well).
        # Uploaded files stay bytes and are not looked at.
        if any("\ufffd" in value for value in request.form.values()):
            return error_response(400, BAD_ENCODING_MESSAGE)
    return None


