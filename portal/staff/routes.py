"""Admin pages: staff accounts (deactivate/reactivate) and the audit log.

The blueprint policy is kind="admin", so every endpoint here is admin-only.
"""
from flask import abort, flash, redirect, render_template, request, url_for
from portal.core.web import current_actor, int_arg

from portal.core import audit
from portal.staff import accounts, bp
from portal.staff.forms import ActionForm, AuditFilterForm, StaffSearchForm


@bp.get("/staff")
def staff():
    form = StaffSearchForm(request.args)
    search = form.q.data if form.validate() else ""
    return render_template("staff_admin/staff.html", form=form,
                           staff=accounts.list_staff(search or ""), action_form=ActionForm())


def _change(change, staff_id, done_message):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        staff, changed = change(staff_id, actor=current_actor())
    except accounts.StaffError as exc:
        flash(str(exc), "error")
    else:
        flash(done_message % staff.email if changed else "Nothing to change for %s." % staff.email,
              "success" if changed else "info")
    return redirect(url_for("staff_admin.staff"))


@bp.post("/staff/<int:staff_id>/deactivate")
def deactivate(staff_id):
    return _change(accounts.deactivate, staff_id,
                   "Deactivated %s; their sessions have ended.")


@bp.post("/staff/<int:staff_id>/reactivate")
def reactivate(staff_id):
    return _change(accounts.reactivate, staff_id, "Reactivated %s.")


@bp.get("/audit", endpoint="audit")
def audit_log():
    form = AuditFilterForm(request.args)
    before_id = int_arg("before")
    rows, next_before = [], None
    if form.validate():
        rows, next_before = audit.search(person=form.person.data or "",
                                         action=form.action.data or "",
                                         date_from=form.date_from.data,
                                         date_to=form.date_to.data,
                                         before_id=before_id)
    kept = {k: v for k, v in request.args.items() if k != "before" and v}
    next_url = url_for("staff_admin.audit", before=next_before, **kept) if next_before else None
    first_url = url_for("staff_admin.audit", **kept) if before_id else None
    return render_template("staff_admin/audit.html", form=form, rows=rows,
                           next_url=next_url, first_url=first_url,
                           actions=audit.known_actions())
