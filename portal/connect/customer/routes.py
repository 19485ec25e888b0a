"""The customer's /account pages. Access: access.register_policy(kind="customer")."""
from flask import abort, flash, redirect, render_template, url_for

from portal.connect import account
from portal.connect.customer import bp
from portal.connect.forms import ConfirmForm, CreateKeyForm, OptOutForm
from portal.connect.service import customer_actor
from portal.connect.signin import sign_out as sign_out_service
from portal.core.customer_session import current_customer, end_customer_session
from portal.core.sessions import now
from portal.core.web import client_ip


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def _customer():
    user = current_customer()
    if user is None:  # the access policy already refused; belt and braces
        abort(401)
    return user


def _actor(user):
    return customer_actor(user.email, client_ip())


def _page(user, status=200, **extra):
    return render_template("connect/account.html", a=account.overview(user, now()),
                           customer=user, key_form=extra.pop("key_form", None) or CreateKeyForm(),
                           action_form=ConfirmForm(), **extra), status


@bp.route("")
def index():
    return _page(_customer())


@bp.route("/keys", methods=["POST"])
def create_key():
    user = _customer()
    form = CreateKeyForm()
    if not form.validate_on_submit():
        return _page(user, 400, key_form=form)
    try:
        key, plaintext = account.create_key(user, form.name.data, _actor(user), now())
    except account.AccountError as exc:
        flash(str(exc), "error")
        return _page(user, 400, key_form=form)
    # Shown on this response only; never stored, never in a URL or the session.
    return _page(user, 201, new_key=plaintext, new_key_name=key.name,
                 key_form=CreateKeyForm(formdata=None))


@bp.route("/keys/<int:key_id>/revoke", methods=["POST"])
def revoke_key(key_id):
    user = _customer()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        key = account.revoke_key(user, key_id, _actor(user), now())
    except account.AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("account.index"), 303)
    flash("API key %s… is revoked; it stops working at once." % key.prefix, "success")
    return redirect(url_for("account.index"), 303)


@bp.route("/opt-out", methods=["POST"])
def opt_out():
    user = _customer()
    form = OptOutForm()
    if not form.validate_on_submit() or form.opted_out.data not in ("0", "1"):
        abort(400)
    wanted = form.opted_out.data == "1"
    account.set_opt_out(user, wanted, _actor(user))
    flash("You will not receive tips and reminders from us any more." if wanted
          else "You will receive tips and reminders again.", "success")
    return redirect(url_for("account.index"), 303)


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    user = _customer()
    if not ConfirmForm().validate_on_submit():
        abort(400)
    sign_out_service(user.id, _actor(user), now())
    end_customer_session()
    flash("You are signed out.", "success")
    return redirect(url_for("connect.sign_in"), 303)


