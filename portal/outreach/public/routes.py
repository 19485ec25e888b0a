"""The signed unsubscribe link from outreach emails (no login).

GET shows a confirmation page (mail scanners follow links, so a GET never
unsubscribes). POST with the page's CSRF token sets users.marketing_opt_out.
RFC 8058 one-click: mail providers POST `List-Unsubscribe=One-Click` to the
same URL from their servers, without our CSRF token; for that POST alone the
signed token in the URL is the proof. The view is therefore exempt from the
global CSRF check and checks CSRF itself for every other POST.
"""
from flask import current_app, render_template, request

from models import User

from portal.core.web import client_ip
from portal.outreach.optout import opt_out
from portal.core.extensions import csrf
from portal.mail.sending import verify_unsubscribe_token
from portal.outreach.public import bp
from portal.outreach.public.forms import UnsubscribeForm


def _mask(email):
    local, _, domain = (email or "").partition("@")
    if not domain:
        return "your address"
    return (local[:1] + "\u2022" * max(1, min(6, len(local) - 1))) + "@" + domain


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token):
    user_id = verify_unsubscribe_token(current_app.config, token)
    user = User.get_or_none(User.id == user_id) if user_id is not None else None
    if user is None:
        return render_template("outreach_public/invalid.html"), 404

    if request.method == "POST" and request.form.get("List-Unsubscribe") == "One-Click":
        opt_out(user, client_ip(), "one-click")
        return ("Unsubscribed\n", 200, {"Content-Type": "text/plain; charset=utf-8"})

    form = UnsubscribeForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("outreach_public/confirm.html", form=form, token=token,
                                   masked=_mask(user.email), expired=True), 400
        opt_out(user, client_ip(), "link")
        return render_template("outreach_public/done.html", masked=_mask(user.email))
    return render_template("outreach_public/confirm.html", form=form, token=token,
                           masked=_mask(user.email), already=user.marketing_opt_out)
