"""Public pages: start and finish the Exact OAuth flow, sign in with a one-time link.

Thin: each view parses the request, calls a service and picks a page. Every
failure page says in plain words what happened and what to do, with 400
(403 over the plan's division limit, 429 when throttled) and nothing stored.
"""
from flask import current_app, flash, redirect, render_template, request, url_for

from portal.connect import bp, oauth, service, signin
from portal.connect.forms import ConfirmForm, SignInForm
from portal.core.access import is_safe_next
from portal.core.ids import parse_id
from portal.core.customer_session import current_customer, start_customer_session
from portal.core.sessions import now
from portal.core.web import client_ip

BROWSER_COOKIE = "exact_connect_browser"
COOKIE_PATH = "/connect/exact"


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def _problem(title, message, status, retry=True):
    return render_template("connect/message.html", title=title, message=message, retry=retry,
                           customer=current_customer()), status


def _division_arg():
    """(division or None, ok): the optional ?division= of a connect link.

    parse_id, not str.isdigit(): "²" is a digit to isdigit() and a ValueError to int().
    """
    raw = request.args.get("division", "")
    if raw == "":
        return None, True
    division = parse_id(raw, minimum=1, maximum=oauth.MAX_DIVISION)
    return division, division is not None


@bp.route("/connect/exact")
def start():
    config = current_app.config
    division, ok = _division_arg()
    if not ok:
        return _problem("That link is not right",
                        "The administration number in the link is not valid. Open the link "
                        "from the email again, or connect from your account page.", 400)
    if not config.get("EXACT_CLIENT_ID"):
        return _problem("Connecting is not available",
                        "Connecting Exact Online is not set up on this server yet. Please "
                        "contact support.", 503, retry=False)
    browser_id = request.cookies.get(BROWSER_COOKIE) or ""
    if not (20 <= len(browser_id) <= 100):
        browser_id = oauth.new_browser_id()
    mode = "another" if request.args.get("another") == "1" and division is None else ""
    target = oauth.start_flow(config, browser_id, now(), division=division, mode=mode)
    response = redirect(target)
    response.set_cookie(BROWSER_COOKIE, browser_id, max_age=int(
        oauth.STATE_LIFETIME.total_seconds()), path=COOKIE_PATH, httponly=True,
        samesite="Lax", secure=bool(config.get("PRODUCTION")))
    return response


@bp.route("/connect/exact/callback")
def callback():
    config = current_app.config
    at = now()
    try:
        state = oauth.consume_state(request.args.get("state", ""),
                                    request.cookies.get(BROWSER_COOKIE, ""), at)
    except oauth.StateError:
        return _problem("This sign-in has expired",
                        "We could not match this answer from Exact Online to a connect request "
                        "from this browser. It may be older than 10 minutes, already used, or "
                        "started in another browser. Nothing was stored. Please start again.",
                        400)
    if request.args.get("error"):
        if request.args.get("error") == "access_denied":
            return _problem("You did not allow access",
                            "Exact Online says access was not allowed, so nothing was "
                            "connected. To use Exact MCP, start again and press \"Allow\" on "
                            "Exact Online's page.", 400)
        return _problem("Exact Online refused",
                        "Exact Online did not complete the connection, so nothing was stored. "
                        "Please try again in a few minutes.", 400)
    code = request.args.get("code", "")
    if not code or len(code) > 2000:
        return _problem("Exact Online sent no code",
                        "The answer from Exact Online was incomplete. Nothing was stored. "
                        "Please start again.", 400)
    try:
        tokens = oauth.exchange_code(config, code, at)
        me = oauth.fetch_me(config, tokens.access_token)
        divisions = oauth.fetch_divisions(config, tokens.access_token, me.current_division)
        result = service.store_connection(config, me, divisions, tokens, state.division,
                                          state.mode, at, client_ip())
    except oauth.ExactError as exc:
        return _problem("We could not finish connecting",
                        "%s Nothing was stored. Please start again; if it keeps failing, "
                        "contact support." % exc, 400)
    except service.ConnectRefused as exc:
        return _problem("Not connected", exc.message, exc.status, retry=exc.status != 403)
    start_customer_session(result.user.id, result.session_version)
    flash("Exact Online administration %d is %s." % (
        result.connection.division, "reconnected" if result.reconnected else "connected"),
        "success")
    return redirect(url_for("account.index"))


@bp.route("/account/sign-in", methods=["GET", "POST"])
def sign_in():
    form = SignInForm()
    nxt = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            signin.request_link(current_app.config, form.email.data, client_ip(), now())
        except signin.Throttled:
            return render_template("connect/sign_in.html", form=form, throttled=True,
                                   customer=None), 429
        return render_template("connect/sign_in.html", form=form, sent=True, customer=None)
    status = 400 if request.method == "POST" else 200
    return render_template("connect/sign_in.html", form=form, next=nxt if is_safe_next(nxt)
                           else "", customer=current_customer()), status


@bp.route("/account/sign-in/<token>", methods=["GET", "POST"])
def use_link(token):
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _problem("Please press the button again",
                            "The page had expired. Open the link from the email again.", 400)
        signed_in = signin.redeem(token, now(), client_ip())
        if signed_in is None:
            return _invalid_link()
        start_customer_session(signed_in.user.id, signed_in.session_version)
        return redirect(url_for("account.index"))
    if not signin.link_is_usable(token, now()):
        return _invalid_link()
    return render_template("connect/use_link.html", form=form, token=token, customer=None)


def _invalid_link():
    return render_template("connect/message.html", title="This sign-in link does not work",
                           message="The link has been used already or is older than 15 "
                                   "minutes. Ask for a new one.",
                           action=(url_for("connect.sign_in"), "Send me a new link"),
                           customer=None), 400
