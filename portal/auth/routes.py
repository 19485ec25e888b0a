"""Login and logout.

Login answers one generic message for every wrong email/password pair, starts
a fresh session, and is throttled per account and per client address
(portal.auth.throttle). Logout bumps the staff member's session_version, so
a cookie saved before logout is refused afterwards.
"""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from models import Staff, database

from portal.core import audit
from portal.core.access import is_safe_next
from portal.core.extensions import login_manager
from portal.auth.passwords import verify_password, verify_dummy_password
from portal.auth import bp, sessions, throttle
from portal.auth.forms import LoginForm

GENERIC_LOGIN_ERROR = "Email or password is incorrect."
LOCKED_ACCOUNT_MESSAGE = ("Too many failed login attempts for this account. "
                          "It is locked for %d more minute(s), even with the right password.")
LOCKED_ADDRESS_MESSAGE = ("Too many failed login attempts from your network address. "
                          "Try again in %d minute(s).")


@login_manager.user_loader
def load_staff(user_id):
    try:
        staff_id, version = (int(p) for p in user_id.split(":"))
    except (ValueError, AttributeError, TypeError):
        return None
    staff = Staff.get_or_none(Staff.id == staff_id)
    if staff is None or not staff.active or staff.session_version != version:
        return None
    return staff


def _next_target():
    nxt = request.args.get("next", "")
    return nxt if is_safe_next(nxt) else ""


@bp.route("/login", methods=["GET", "POST"])
def login():
    nxt = _next_target()
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(nxt or url_for("dashboard.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        outcome = _attempt_login(form.email.data.strip().lower(), form.password.data)
        if outcome is None:
            return redirect(nxt or url_for("dashboard.index"))
        message, status = outcome
        flash(message, "error")
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form, next=nxt), status


def _attempt_login(email, password):
    """Log in and return None, or return (message, http status) on refusal."""
    now = sessions.now()
    ip = audit.client_ip()
    limits = throttle.Limits.from_config(current_app.config)
    refusal = throttle.check(email, ip, now, limits)
    staff = Staff.get_or_none(Staff.email == email)
    if refusal:
        with database.atomic():
            audit.record("login.refused", "staff", staff.id if staff else "",
                         after={"reason": "throttled per " + refusal.scope,
                                "until": refusal.until.isoformat()},
                         staff=None, staff_email=email)
        template = LOCKED_ACCOUNT_MESSAGE if refusal.scope == "account" else LOCKED_ADDRESS_MESSAGE
        return template % refusal.minutes_left(now), 429
    if staff is not None and staff.active:
        ok = verify_password(staff.password_hash, password)
    else:
        # Same work either way, so timing does not tell which accounts exist.
        verify_dummy_password(password, current_app.config.get("PASSWORD_HASH_METHOD"))
        ok = False
    with database.atomic():
        throttle.record_attempt(email, ip, ok, now)
        if ok:
            Staff.update(last_login_at=now).where(Staff.id == staff.id).execute()
        audit.record("login.success" if ok else "login.failure", "staff",
                     staff.id if staff else "", staff=staff if ok else None,
                     staff_email=email)
    if not ok:
        return GENERIC_LOGIN_ERROR, 200
    sessions.start_session(staff)
    return None


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        staff = current_user._get_current_object()
        with database.atomic():
            # Every cookie carrying the old version is refused from now on.
            Staff.update(session_version=Staff.session_version + 1).where(
                Staff.id == staff.id).execute()
            audit.record("logout", "staff", staff.id, staff=staff)
    sessions.end_session()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
