"""Customer pages: the list (search, filters, sorts, keyset pages, CSV) and the detail page.

Reading is open to every staff member; every write here (plan, division
limit, API keys) is admin-only through the access policy (portal/access.py
default for POST) and audited in the same transaction. Creating an API key is
admin-only too: a key is a credential for the customer's accounting data, and
the issue gives key management (revocation) to admins.
"""

from flask import (abort, current_app, flash, redirect, render_template, request,
                   url_for)
from playhouse.flask_utils import get_object_or_404

from models import CONNECTION_STATUSES, ApiKey, PlanType, User, utcnow

from portal.customers import api_keys, listing as customer_list, service as customer_service
from models.plans import limits_for
from portal.core.pagination import BadCursor
from portal.core.web import current_actor
from portal.customers.service import CustomerError
from portal.core.csv_export import csv_response
from portal.customers import bp
from portal.customers.forms import ActionForm, ApiKeyForm, DivisionLimitForm, PlanForm

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 600, 160, 20


def _list_url(filters, **cursor):
    return url_for("customers.index", **filters.as_args(), **cursor)


@bp.get("/")
def index():
    filters = customer_list.CustomerFilters.from_args(request.args)
    try:
        page = customer_list.customer_page(filters, after=request.args.get("after"),
                                           before=request.args.get("before"),
                                           limit=customer_list.PAGE_SIZE)
    except BadCursor:
        flash("That page link is no longer valid; showing the first page.", "warning")
        return redirect(_list_url(filters))
    return render_template(
        "customers/index.html", filters=filters, page=page,
        plans=PlanType.values(), statuses=CONNECTION_STATUSES, sorts=customer_list.SORTS,
        next_url=_list_url(filters, after=page.next_cursor) if page.next_cursor else None,
        prev_url=_list_url(filters, before=page.prev_cursor) if page.prev_cursor else None,
        first_url=_list_url(filters) if page.prev_cursor else None,
        export_url=url_for("customers.export", **filters.as_args()))


@bp.get("/export.csv")
def export():
    """The filtered list as CSV, streamed in keyset batches (constant memory)."""
    filters = customer_list.CustomerFilters.from_args(request.args)
    now = utcnow()

    rows = (customer_list.csv_row(user, calls, statuses)
            for user, calls, statuses in customer_list.iter_customers(filters, now=now))
    return csv_response(customer_list.CSV_HEADER, rows,
                        "customers-%s.csv" % now.strftime("%Y%m%d-%H%M%S"))


def chart_bars(series, width=CHART_WIDTH, height=CHART_HEIGHT, pad=CHART_PAD):
    """Bar geometry for the inline SVG usage chart (no script, no style attributes)."""
    top = max([calls for _, calls, _ in series] + [1])
    slot = (width - pad) / max(1, len(series))
    usable = height - pad
    bars = []
    for i, (day, calls, errors) in enumerate(series):
        h = usable * calls / top
        eh = usable * errors / top
        x = pad + i * slot
        bars.append({"day": day, "calls": calls, "errors": errors,
                     "x": round(x + 1, 1), "w": round(max(1.0, slot - 2), 1),
                     "y": round(usable - h, 1), "h": round(h, 1),
                     "ey": round(usable - eh, 1), "eh": round(eh, 1)})
    return {"bars": bars, "top": top, "width": width, "height": height, "pad": pad,
            "baseline": usable}


def _render_detail(user_id, status=200, **extra):
    detail = customer_service.customer_detail(user_id)
    if detail is None:
        abort(404)
    user = detail["user"]
    plan_form = extra.pop("plan_form", None) or PlanForm(plan=str(user.plan), formdata=None)
    limit_form = extra.pop("limit_form", None) or DivisionLimitForm(formdata=None)
    html = render_template(
        "customers/detail.html", d=detail, user=user, chart=chart_bars(detail["chart"]),
        plan_form=plan_form, limit_form=limit_form,
        key_form=extra.pop("key_form", None) or ApiKeyForm(formdata=None),
        action_form=ActionForm(formdata=None),
        reply_url=url_for("templates_admin.compose_reply", user_id=user.id),
        **extra)
    response = current_app.make_response((html, status))
    response.headers["Cache-Control"] = "no-store"  # a new key may be on the page
    return response


@bp.get("/<int:user_id>")
def detail(user_id):
    return _render_detail(user_id)


@bp.post("/<int:user_id>/plan")
def change_plan(user_id):
    """Two steps: the first POST shows what changes (preview), the confirmed one saves."""
    user = get_object_or_404(User, User.id == user_id)
    form = PlanForm()
    if not form.validate_on_submit():
        return _render_detail(user_id, 400, plan_form=form)
    if form.confirm.data != "yes":
        if form.plan.data == str(user.plan):
            flash("The customer is already on the %s plan." % user.plan, "warning")
            return redirect(url_for("customers.detail", user_id=user_id))
        preview = {"from": str(user.plan), "to": form.plan.data,
                   "from_limits": limits_for(user.plan),
                   "to_limits": limits_for(form.plan.data)}
        return _render_detail(user_id, plan_form=form, plan_preview=preview)
    try:
        before, after = customer_service.change_plan(user, form.plan.data, current_actor())
    except CustomerError as exc:
        flash(str(exc), "error")
        return redirect(url_for("customers.detail", user_id=user_id))
    flash("Plan changed from %s to %s." % (before, after), "success")
    return redirect(url_for("customers.detail", user_id=user_id))


@bp.post("/<int:user_id>/division-limit")
def set_division_limit(user_id):
    user = get_object_or_404(User, User.id == user_id)
    form = DivisionLimitForm()
    if not form.validate_on_submit():
        return _render_detail(user_id, 400, limit_form=form)
    value = None if form.unlimited.data else form.max_divisions.data
    try:
        customer_service.set_division_limit(user, value, current_actor(),
                                            (form.reason.data or "").strip())
    except CustomerError as exc:
        flash(str(exc), "error")
        return redirect(url_for("customers.detail", user_id=user_id))
    flash("Division limit set to %s." % ("unlimited" if value is None else value), "success")
    return redirect(url_for("customers.detail", user_id=user_id))


@bp.post("/<int:user_id>/division-limit/clear")
def clear_division_limit(user_id):
    user = get_object_or_404(User, User.id == user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        customer_service.clear_division_limit(user, current_actor())
    except CustomerError as exc:
        flash(str(exc), "warning")
        return redirect(url_for("customers.detail", user_id=user_id))
    flash("Division limit back to the plan default.", "success")
    return redirect(url_for("customers.detail", user_id=user_id))


@bp.post("/<int:user_id>/api-keys")
def create_api_key(user_id):
    """Shows the new key on this response only: it is never stored, flashed or redirected."""
    user = get_object_or_404(User, User.id == user_id)
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _render_detail(user_id, 400, key_form=form)
    key, plaintext = api_keys.create_api_key(user, (form.name.data or "").strip(),
                                             actor=current_actor())
    return _render_detail(user_id, new_key=plaintext, new_key_record=key)


@bp.post("/<int:user_id>/api-keys/<int:key_id>/revoke")
def revoke_api_key(user_id, key_id):
    key = ApiKey.get_or_none((ApiKey.id == key_id) & (ApiKey.user == user_id))
    if key is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    revoked = api_keys.revoke_api_key(key, actor=current_actor())
    if revoked:
        flash("Key %s revoked; it stops working immediately." % key.prefix, "success")
    else:
        flash("Key %s was already revoked." % key.prefix, "warning")
    return redirect(url_for("customers.detail", user_id=user_id))
