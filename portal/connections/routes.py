"""Connection pages: list, detail, Retry now, Reset to retry, sidecar status."""
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.core.web import current_actor
from portal.core.access import is_admin
from portal.connections import service as svc
from portal.connections import bp
from portal.sidecar.status import sidecar_status
from models import utcnow
from portal.connections.forms import ActionForm, ConnectionFilterForm


@bp.get("/")
def index():
    form = ConnectionFilterForm(request.args)
    if not form.validate():
        for errors in form.errors.values():
            for e in errors:
                flash(e, "error")
        listing = svc.list_connections()
        filters = {"status": "", "q": "", "sort": "next_retry_at"}
    else:
        filters = {"status": form.status.data or "", "q": (form.q.data or "").strip(),
                   "sort": form.sort.data or "next_retry_at"}
        listing = svc.list_connections(filters["status"] or None, filters["q"] or None,
                                       filters["sort"], form.page.data or 1)
    return render_template("connections/list.html", form=form, listing=listing,
                           filters=filters, counts=svc.status_counts(),
                           sidecar=sidecar_status(utcnow(), _interval()))


@bp.get("/<int:connection_id>")
def detail(connection_id):
    connection = svc.get_connection(connection_id)
    if connection is None:
        abort(404)
    return render_template("connections/detail.html", c=connection,
                           attempts=svc.attempt_history(connection_id), form=ActionForm(),
                           can_reset=is_admin(current_user))


def _action(connection_id, do, done_message):
    form = ActionForm()
    if not form.validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(url_for(".detail", connection_id=connection_id))
    try:
        do(connection_id, current_actor())
    except svc.ConnectionActionError as exc:
        flash(str(exc), "error")
    else:
        flash(done_message, "success")
    return redirect(url_for(".detail", connection_id=connection_id))


@bp.post("/<int:connection_id>/retry")
def retry_now(connection_id):
    return _action(connection_id, svc.retry_now, "Retry planned: the sidecar refreshes this "
                   "connection in its next cycle.")


@bp.post("/<int:connection_id>/reset")
def reset_to_retry(connection_id):
    return _action(connection_id, svc.reset_to_retry, "Reset: the connection starts a fresh "
                   "retry ladder in the sidecar's next cycle.")


def _interval():
    return current_app.config.get("REFRESH_INTERVAL_SECONDS", 300)


@bp.get("/sidecar")
def sidecar():
    return render_template("connections/sidecar.html",
                           status=sidecar_status(utcnow(), _interval(), runs=30))
