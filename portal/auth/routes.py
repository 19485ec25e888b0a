"""Login and logout.

Login answers one generic message for every wrong email/password pair, starts
a fresh session, and is throttled per account and per client address
(portal.auth.throttle). Logout bumps the staff member's session_version, so
a cookie saved before logout is refused afterwards.
"""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from models import Staff

from portal.auth import bp, service
from portal.core import sessions
from portal.core.access import is_safe_next
from portal.core.extensions import login_manager
from portal.core.web import current_actor
from portal.auth.forms import LoginForm



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
    outcome = service.attempt_login(email, password, current_actor(), sessions.now(),
                                    current_app.config)
    if outcome.staff is None:
        return outcome.message, outcome.status
    sessions.start_session(outcome.staff)
    return None


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        service.log_out(current_actor())
    sessions.end_session()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
