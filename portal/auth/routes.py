from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from models import Staff, database

from .. import audit
from ..access import is_safe_next
from ..extensions import login_manager
from ..passwords import verify_password
from . import bp
from .forms import LoginForm

GENERIC_LOGIN_ERROR = "Email or password is incorrect."


@login_manager.user_loader
def load_staff(user_id):
    try:
        staff_id, version = (int(p) for p in user_id.split(":"))
    except (ValueError, AttributeError):
        return None
    staff = Staff.get_or_none(Staff.id == staff_id)
    if staff is None or not staff.active or staff.session_version != version:
        return None
    return staff


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    nxt = request.args.get("next", "")
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        staff = Staff.get_or_none(Staff.email == email)
        ok = staff is not None and staff.active and verify_password(
            staff.password_hash, form.password.data)
        with database.atomic():
            audit.record("login.success" if ok else "login.failure", "staff",
                         staff.id if staff else "", staff=staff if ok else None,
                         staff_email=email)
        if ok:
            session.clear()  # a fresh session at login: no fixation
            login_user(staff)
            return redirect(nxt if is_safe_next(nxt) else url_for("dashboard.index"))
        flash(GENERIC_LOGIN_ERROR, "error")
    return render_template("auth/login.html", form=form, next=nxt)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        staff = current_user._get_current_object()
        with database.atomic():
            Staff.update(session_version=Staff.session_version + 1).where(
                Staff.id == staff.id).execute()
            audit.record("logout", "staff", staff.id, staff=staff)
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
