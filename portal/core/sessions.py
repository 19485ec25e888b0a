"""Session lifetime: a fresh session at login, idle timeout, absolute lifetime.

The session cookie is Flask's signed cookie; Flask-Login keeps the staff id
plus `Staff.session_version` in it, so bumping the version (logout,
deactivation) refuses every older cookie on the server. Here we add two
timestamps to the session:

* `_login_at` — when this session was started; older than
  SESSION_MAX_HOURS (default 12) → the session ends, however active.
* `_seen_at` — the last request; older than SESSION_IDLE_MINUTES (default 30)
  → the session ends.

Time comes from `now()`, which reads the app's injectable clock
(config CLOCK: a callable returning naive UTC), so tests move time instead of
sleeping.
"""
from datetime import datetime, timedelta

from flask import current_app, flash, session
from flask_login import login_user, logout_user

from models.db import utcnow

LOGIN_AT = "_login_at"
SEEN_AT = "_seen_at"
EPOCH = datetime(1970, 1, 1)
# Only rewrite the cookie when the idle stamp is this stale, so a burst of
# requests does not re-issue the cookie every time.
SEEN_RESOLUTION = timedelta(seconds=30)


def now():
    clock = current_app.config.get("CLOCK") or utcnow
    return clock()


def _stamp(moment):
    return (moment - EPOCH).total_seconds()


def _moment(stamp):
    try:
        return EPOCH + timedelta(seconds=float(stamp))
    except (TypeError, ValueError, OverflowError):
        return None


def idle_limit():
    return timedelta(minutes=int(current_app.config.get("SESSION_IDLE_MINUTES", 30)))


def max_lifetime():
    return timedelta(hours=int(current_app.config.get("SESSION_MAX_HOURS", 12)))


def start_session(staff):
    """Log `staff` in on a brand-new session (nothing from before survives)."""
    session.clear()
    login_user(staff, remember=False, fresh=True)
    session.permanent = True  # cookie expiry follows PERMANENT_SESSION_LIFETIME
    moment = _stamp(now())
    session[LOGIN_AT] = moment
    session[SEEN_AT] = moment


def end_session():
    logout_user()
    session.clear()


def session_expiry_reason(at=None):
    """'idle', 'lifetime' or None for the current session's timestamps."""
    at = at or now()
    login_at = _moment(session.get(LOGIN_AT))
    seen_at = _moment(session.get(SEEN_AT))
    if login_at is None or seen_at is None:
        return "lifetime"  # a login session without stamps was not made here
    if at - login_at >= max_lifetime() or login_at - at > SEEN_RESOLUTION:
        return "lifetime"
    if at - seen_at >= idle_limit():
        return "idle"
    return None


def expire_stale_session():
    """before_request (called from access.enforce_access): end stale sessions."""
    if "_user_id" not in session:
        return None
    at = now()
    reason = session_expiry_reason(at)
    if reason:
        end_session()
        flash("Your session has expired; please log in again." if reason == "idle"
              else "Your session reached its maximum length; please log in again.", "warning")
        return reason
    if at - _moment(session[SEEN_AT]) >= SEEN_RESOLUTION:
        session[SEEN_AT] = _stamp(at)
    return None
